#!lua flags=allow-oom
-- job_cancel: cancel a job that has not finished, in one step. Allowed at maxmemory (a few small
-- fields on an existing record, and a delayed member removed), so jobs can be cancelled while
-- workers drain a full Redis.
-- KEYS[1] job      (hash)   the job's record
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- ARGV[1] job_id, ARGV[2] result_ttl_s (how long the cancelled record is kept), ARGV[3] done
-- channel prefix, ARGV[4] cancel channel (the queue's: workers running the job stop it)
-- Returns the status the job had: 'queued', 'scheduled', 'retrying' or 'running' (cancelled now:
-- the record says 'cancelled'); a finished status ('succeeded', 'failed', 'cancelled', ...):
-- nothing was changed; '' no such job.
-- A delayed job (scheduled, retrying) leaves the delayed set here and ends at once. A queued job
-- stays in the backlog until a worker takes it: the start step drops it (lib/start.lua). A
-- running job is announced on the cancel channel; its worker stops it and acks it as cancelled
-- (a worker that missed the message finishes it as cancelled anyway: lib/complete, lib/retry,
-- lib/dead_letter). Result waiters are told at once ('C'): the job's status is final now.
-- @include now
-- @include check
-- @include cancelled
-- @include finish
local ttl = need(ARGV[2], 0, MAX_SECONDS, 'result_ttl_s')
local jk, id = KEYS[1], ARGV[1]
local s = redis.call('HGET', jk, 's')
if not s then return '' end
if s ~= 'queued' and s ~= 'scheduled' and s ~= 'retrying' and s ~= 'running' then return s end
local now = now_ms()
redis.call('HSET', jk, 's', 'cancelled', 'ft', now, 'cx', ttl)
release_unique(jk, id)
if redis.call('HGET', jk, 'wt') then redis.call('PUBLISH', ARGV[3] .. id, 'C') end
if redis.call('ZREM', KEYS[2], id) == 1 then
  redis.call('HDEL', jk, 'e')
  end_cancelled(jk)
elseif s == 'running' then
  redis.call('PUBLISH', ARGV[4], id)
end
return s

#!lua flags=allow-oom
-- list_retry: end a failed attempt and schedule the job again, in one step.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] pending  (list)   the queue's backlog
-- KEYS[3] delayed  (zset)   job ids scored by due time in ms
-- KEYS[4] job key prefix    (hash per job)
-- KEYS[5] stats    (hash)   queue counters
-- ARGV[1] job_id, ARGV[2] attempt, ARGV[3] delay_ms, ARGV[4] envelope, ARGV[5] error (msgpack)
-- Returns 1 if scheduled, 0 if this attempt no longer owned the job (nothing done).
-- Fails before writing anything if delay_ms is not an integer >= 0 (lib/check).
-- @include now
-- @include finish
-- @include check
local delay = need(ARGV[3], 0, MAX_SECONDS * 1000, 'delay_ms')
local now = now_ms()
local jk = KEYS[4] .. ARGV[1]
if redis.call('HGET', jk, 'a') ~= ARGV[2] or redis.call('LREM', KEYS[1], -1, ARGV[4]) ~= 1 then
  return 0
end
if delay > 0 then
  redis.call('ZADD', KEYS[3], now + delay, ARGV[1])
  redis.call('HSET', jk, 's', 'retrying', 'e', ARGV[4], 'err', ARGV[5])
else
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('HSET', jk, 's', 'queued', 'err', ARGV[5])
end
count(KEYS[5], 'retried', 1, now)
return 1

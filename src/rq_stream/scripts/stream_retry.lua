#!lua flags=allow-oom
-- stream_retry: ack a failed attempt and schedule the job again, in one step.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- ARGV[1] group, ARGV[2] entry_id, ARGV[3] job_id, ARGV[4] attempt, ARGV[5] delay_ms,
-- ARGV[6] envelope, ARGV[7] error payload (msgpack)
-- Returns 1 if scheduled, 0 if this attempt no longer owned the job (nothing done).
-- Fails before writing anything if delay_ms is not an integer >= 0 (lib/check).
-- @include now
-- @include finish
-- @include check
local delay = need(ARGV[5], 0, MAX_SECONDS * 1000, 'delay_ms')
local now = now_ms()
local jk = KEYS[3] .. ARGV[3]
if redis.call('HGET', jk, 'a') ~= ARGV[4] or redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) ~= 1 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
if delay > 0 then
  redis.call('ZADD', KEYS[2], now + delay, ARGV[3])
  redis.call('HSET', jk, 's', 'retrying', 'e', ARGV[6], 'err', ARGV[7])
else
  redis.call('XADD', KEYS[1], '*', 'j', ARGV[3], 'd', ARGV[6])
  redis.call('HSET', jk, 's', 'queued', 'err', ARGV[7])
end
count(KEYS[4], 'retried', 1, now)
return 1

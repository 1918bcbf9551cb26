#!lua flags=allow-oom
-- slot_acquire: take one of the slots of a concurrency limit (@app.task(concurrency=N)) for a
-- job about to run, or say that all N are held (the job then waits: it is deferred).
-- KEYS[1] slots    (zset)   holder tokens (job_id:attempt) scored by their hold's expiry (ms)
-- KEYS[2] waiting  (zset)   job ids deferred for want of a slot, scored by when (ms)
-- ARGV[1] token, ARGV[2] limit N, ARGV[3] hold_ms (the queue's lease), ARGV[4] job_id,
-- ARGV[5] "1" to list the job in `waiting` when refused (slot_release wakes the oldest), "0"
-- not to (its delayed set is in another hash slot: it waits out its backoff)
-- Holds whose expiry passed (a holder SIGKILLed, its renewals stopped) are dropped first.
-- Returns 0 when held (a token already holding is renewed), else how many jobs wait (>= 1).
-- @include now
local now = now_ms()
local limit, hold = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], hold * 2)
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 0
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], 86400000)
end
return math.max(1, redis.call('ZCARD', KEYS[2]))

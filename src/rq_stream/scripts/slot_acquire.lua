#!lua flags=allow-oom
-- slot_acquire: take one of the slots of a concurrency limit (@app.task(concurrency=N)) for a
-- job about to run, or say that all N are held.
-- KEYS[1] slots    (zset)   holder tokens (job_id:attempt) scored by their hold's expiry (ms)
-- ARGV[1] token, ARGV[2] limit N, ARGV[3] hold_ms (the queue's lease)
-- Holds whose expiry passed (a holder SIGKILLed, its renewals stopped) are dropped first.
-- Returns 1 when held (a token already holding is renewed), 0 when N others hold a slot.
-- @include now
local now = now_ms()
local limit, hold = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], hold * 2)
  return 1
end
return 0

-- rate_acquire: take one slot of a sliding-window rate limit, or say how long until one frees.
-- Exact: at most `limit` acquisitions in any window of `period_ms` (half-open, server clock).
-- KEYS[1] log      (zset)   one member per acquisition in the current window, scored by ms
-- ARGV[1] limit, ARGV[2] period_ms, ARGV[3] member (unique per acquisition)
-- Returns {1, 0} when acquired; {0, ms until a slot frees} when the limit is reached.
-- @include now
local now = now_ms()
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return {1, 0}
end
-- The slot frees when the acquisition that is `limit` places from the newest leaves the window
-- (n > limit only if the limit was lowered while acquisitions were in the window).
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + period - now)}

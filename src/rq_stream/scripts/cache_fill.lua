-- cache_fill: store a computed value and hand it to the callers waiting for it.
-- KEYS[1] value    (string) the encoded value, with a TTL
-- KEYS[2] fill     (string) token of the one caller computing the missing value
-- ARGV[1] token, ARGV[2] encoded value, ARGV[3] ttl_ms, ARGV[4] channel of the waiters
-- Stores only while this caller still holds the fill lock: if an invalidation or a write-through
-- took it away meanwhile, the value was computed from older data and must not be cached.
-- Publishes 'V' .. value when stored, 'R' (re-check) otherwise.
-- Returns 1 if stored, 0 if not.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  redis.call('PUBLISH', ARGV[4], 'R')
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[4], 'V' .. ARGV[2])
return 1

-- cache_set: write-through (store a new value) or invalidate (delete it), and cancel any fill in
-- progress, whose value was computed from the older data.
-- KEYS[1] value    (string) the encoded value, with a TTL
-- KEYS[2] fill     (string) token of the one caller computing the missing value
-- ARGV[1] encoded value, ARGV[2] ttl_ms (0: invalidate), ARGV[3] channel of the waiters
-- Waiters get 'V' .. value (write-through) or 'R' (invalidated: re-check, one computes).
-- Returns 1.
redis.call('DEL', KEYS[2])
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[3], 'V' .. ARGV[1])
else
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[3], 'R')
end
return 1

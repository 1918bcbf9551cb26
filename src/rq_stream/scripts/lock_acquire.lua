-- lock_acquire: take a lock if it is free.
-- KEYS[1] lock     (string) the holder's token, with a TTL
-- ARGV[1] token (random, one per acquisition), ARGV[2] ttl_ms
-- Returns {1, ttl_ms} when taken; {0, ms until the current holder's lock expires (-1: no TTL)}.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, tonumber(ARGV[2])}
end
return {0, redis.call('PTTL', KEYS[1])}

-- cache_get: read a cached value; on a miss, elect one caller to compute it (stampede guard).
-- KEYS[1] value    (string) the encoded value, with a TTL
-- KEYS[2] fill     (string) token of the one caller computing the missing value, short TTL
-- ARGV[1] token (random, per call), ARGV[2] fill lock ttl_ms
-- Returns {1, value} a hit; {2, ''} a miss and this caller must compute (it holds the fill
-- lock); {0, ms until the fill lock expires} a miss that another caller is computing.
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
return {0, redis.call('PTTL', KEYS[2])}

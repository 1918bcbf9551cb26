-- lock_renew: push a held lock's expiry to ttl_ms from now, only if this owner still holds it.
-- KEYS[1] lock     (string) the holder's token, with a TTL
-- ARGV[1] token, ARGV[2] ttl_ms
-- Returns 1 if renewed, 0 if the lock was lost (expired, or taken by another owner).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1

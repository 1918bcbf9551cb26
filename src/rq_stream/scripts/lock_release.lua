-- lock_release: delete a lock only if this owner still holds it, and wake its waiters.
-- KEYS[1] lock     (string) the holder's token, with a TTL
-- ARGV[1] token, ARGV[2] channel on which waiters listen for the release
-- Returns 1 if released, 0 if the lock had expired or belonged to someone else (untouched).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], 'released')
return 1

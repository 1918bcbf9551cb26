#!lua flags=allow-oom
-- slot_renew: push the expiry of running jobs' slots to hold_ms from now (with their leases).
-- KEYS[1] slots    (zset)   holder tokens (job_id:attempt) scored by their hold's expiry (ms)
-- ARGV[1] hold_ms, ARGV[2..] tokens
-- Only tokens still holding are renewed (XX: a hold that expired is not taken back).
-- Returns how many were renewed.
-- @include now
local expiry = now_ms() + tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return n

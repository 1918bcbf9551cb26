#!lua flags=allow-oom
-- stream_prune_consumer: forget a dead consumer of the group, only if it holds nothing.
-- XGROUP DELCONSUMER throws a consumer's pending entries away for good, so the check that its
-- pending list is empty and the delete happen in one step.
-- KEYS[1] stream   (stream) the queue's backlog
-- ARGV[1] group, ARGV[2] consumer
-- Returns 1 if deleted, 0 if it holds pending entries (or is gone already).
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if p[1] then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) >= 0 and 1 or 0

#!lua flags=allow-oom
-- list_reap: return the jobs of one dead consumer to the queue. Any worker may run it at any
-- time, concurrently with others: the liveness check and the move are one atomic step.
-- A consumer is dead when its heartbeat key has expired, or its last beat is older than the
-- reaper's lease. Its jobs go to the right end of the backlog (they are taken next, oldest
-- first); their attempts were counted when they started, so a job that keeps killing its
-- worker reaches max_attempts and the dead-letter stream.
-- KEYS[1] consumers  (set)    consumers that may own a processing list
-- KEYS[2] heartbeat  (string) the consumer's last beat (server ms), with a TTL
-- KEYS[3] proc       (list)   the consumer's processing list
-- KEYS[4] pending    (list)   the queue's backlog
-- ARGV[1] consumer name, ARGV[2] lease in ms
-- Returns the number of jobs returned, or -1 if the consumer is alive (nothing done).
-- @include now
-- @include own_list
local beat = redis.call('GET', KEYS[2])
if beat and now_ms() - (tonumber(beat) or 0) <= tonumber(ARGV[2]) then return -1 end
local items = redis.call('LRANGE', KEYS[3], 0, -1)
push_all('RPUSH', KEYS[4], items)
redis.call('DEL', KEYS[3], KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return #items

#!lua flags=allow-oom
-- worker_seen: note when a worker last beat, and forget workers not seen for a long time.
-- (Its own script, not part of worker_heartbeat: on a Cluster the two keys are in other slots.)
-- KEYS[1] workers  (sorted set) worker names scored by their last beat (ms)
-- ARGV[1] worker name, ARGV[2] now (ms), ARGV[3] forget the workers last seen before this (ms)
-- Returns 1.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return 1

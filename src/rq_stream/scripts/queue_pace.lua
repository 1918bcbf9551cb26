#!lua flags=allow-oom
-- queue_pace: remember how long a queue's jobs run (a worker's running average), so a worker
-- that starts later sizes its prefetch from the first job on.
-- KEYS[1] stats    (hash)   queue counters; field 'job_us'
-- ARGV[1] average run time of a job, in microseconds
-- Returns 1.
redis.call('HSET', KEYS[1], 'job_us', ARGV[1])
return 1

#!lua flags=allow-oom
-- slot_release: give back a job's slot of a concurrency limit (the job ended, however).
-- KEYS[1] slots    (zset)   holder tokens (job_id:attempt) scored by their hold's expiry (ms)
-- ARGV[1] token
-- Returns 1 if the token held a slot, 0 if not (already released, or its hold expired).
return redis.call('ZREM', KEYS[1], ARGV[1])

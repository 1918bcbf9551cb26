#!lua flags=allow-oom
-- slot_release: give back a job's slot of a concurrency limit (the job ended, however), and
-- wake the job that has waited longest for one: due at once in its delayed set.
-- KEYS[1] slots    (zset)   holder tokens (job_id:attempt) scored by their hold's expiry (ms)
-- KEYS[2] waiting  (zset)   job ids deferred for want of a slot, scored by when (ms)
-- KEYS[3] delayed  (zset)   the task's queue's delayed jobs, scored by due time (ms)
-- ARGV[1] token, ARGV[2] the queue's wake channel (pub/sub: its workers' delayed movers)
-- A waiter no longer in the delayed set (cancelled, expired, already moved) is skipped, up to
-- 10 of them. Returns 1 if a waiter was woken (announced on the wake channel), else 0.
-- @include now
redis.call('ZREM', KEYS[1], ARGV[1])
for _ = 1, 10 do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then return 0 end
  if redis.call('ZADD', KEYS[3], 'XX', 'CH', now_ms(), oldest[1]) == 1 then
    redis.call('PUBLISH', ARGV[2], 0)
    return 1
  end
end
return 0

-- list_cron_tick: cron_tick.lua for a lists-backend queue (same rules; the backlog is a list).
-- KEYS[1] pending    (list)   the queue's backlog: LPUSH in, taken from the right
-- KEYS[2] delayed    (zset)   job ids scored by due time in ms (unused: a tick is due now)
-- KEYS[3] job key prefix      (hash per job at KEYS[3] .. job_id)
-- KEYS[4] schedules  (hash)   schedule name -> definition
-- KEYS[5] ticks      (hash)   schedule name -> last tick (ms) enqueued or skipped
-- ARGV[1] wake channel, ARGV[2] schedule name, ARGV[3] its definition as the caller read it,
-- ARGV[4] the tick (ms), then ARGV[5..11] the job (enqueue.lua's group of 7, not unique);
--         without them the schedule only advances to the tick (a tick skipped by catch_up)
-- Returns 1 done, 0 the tick is not after the last one (another worker did it), -1 the
-- definition changed or was removed since the caller read it (nothing written).
-- @include now
-- @include enqueue_jobs
if redis.call('HGET', KEYS[4], ARGV[2]) ~= ARGV[3] then return -1 end
local last = tonumber(redis.call('HGET', KEYS[5], ARGV[2]) or '0')
if tonumber(ARGV[4]) <= last then return 0 end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[4])
if #ARGV < 5 then return 1 end
return enqueue_jobs(function(_, env) redis.call('LPUSH', KEYS[1], env) end, 5)[1]

#!lua flags=allow-oom
-- job_progress: store a running job's progress on its record and tell its watchers, in one step
-- (current_job().report_progress). Allowed at maxmemory: one small field on an existing record.
-- KEYS[1] job      (hash)   the job's record
-- ARGV[1] attempt (the reporting attempt's: a stale worker's report is refused), ARGV[2]
-- progress (msgpack [value, message]), ARGV[3] the job's done channel
-- Stored in field 'pg'; published as 'P' .. progress on the done channel only if someone
-- watches the job ('wt', see job_watch.lua), so unwatched progress costs no PUBLISH.
-- Returns 1 stored, 0 not (the job is not running this attempt: finished, cancelled, lost).
local h = redis.call('HMGET', KEYS[1], 's', 'a', 'wt')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pg', ARGV[2])
if h[3] then redis.call('PUBLISH', ARGV[3], 'P' .. ARGV[2]) end
return 1

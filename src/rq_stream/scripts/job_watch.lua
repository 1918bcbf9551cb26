#!lua flags=allow-oom
-- job_watch: mark a job as awaited, then read its outcome, in one step. Allowed at maxmemory
-- (one small field on an existing record), so results can be awaited while workers drain Redis.
-- A waiter calls it after its subscription to the job's channel is confirmed. The scripts that
-- complete a job publish its result only when it is awaited ('wt' set), so jobs nobody waits
-- for cost no PUBLISH; a job completed before the mark is seen here in the record instead.
-- KEYS[1] job      (hash)   the job's record
-- Returns HMGET s r err pg (all nil: no such job; pg: the latest progress, job_progress.lua).
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'wt', 1) end
return redis.call('HMGET', KEYS[1], 's', 'r', 'err', 'pg')

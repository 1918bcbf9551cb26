#!lua flags=allow-oom
-- list_defer: put a started job back into the delayed set without counting the attempt (its
-- rate limit is reached: it did not run, it must wait).
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- KEYS[3] job key prefix    (hash per job; holds the envelope in field 'e' while delayed)
-- ARGV[1] job_id, ARGV[2] attempt, ARGV[3] delay_ms, ARGV[4] envelope
-- Acts only if this attempt still owns the job (attempt unchanged) and LREM removed it from
-- this consumer's processing list, so a re-sent script or a reaped job defers once.
-- Returns 1 if deferred, 0 if this attempt no longer owned the job (nothing done).
-- Fails before writing anything if delay_ms is not an integer (lib/check).
-- @include now
-- @include own_list
-- @include check
-- @include uncount
-- @include mine
-- @include cancelled
-- @include defer
local delay = need(ARGV[3], -MAX_SECONDS * 1000, MAX_SECONDS * 1000, 'delay_ms')
return defer_job(KEYS[1], nil, ARGV[4], KEYS[2], KEYS[3] .. ARGV[1], ARGV[1], ARGV[2], delay,
  ARGV[4])

#!lua flags=allow-oom
-- stream_defer: put a started job back into the delayed set without counting the attempt
-- (its rate limit is reached: it did not run, it must wait).
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- KEYS[3] job key prefix    (hash per job; holds the envelope in field 'e' while delayed)
-- ARGV[1] group, ARGV[2] entry_id, ARGV[3] job_id, ARGV[4] attempt, ARGV[5] delay_ms,
-- ARGV[6] envelope
-- Acts only if this attempt still owns the job (attempt unchanged) and XACK returns 1, so a
-- re-sent script or a reclaimed entry defers once.
-- Returns 1 if deferred, 0 if this attempt no longer owned the job (nothing done).
-- Fails before writing anything if delay_ms is not an integer (lib/check).
-- @include now
-- @include own_stream
-- @include check
-- @include uncount
-- @include mine
-- @include cancelled
-- @include defer
local delay = need(ARGV[5], -MAX_SECONDS * 1000, MAX_SECONDS * 1000, 'delay_ms')
return defer_job(KEYS[1], ARGV[1], ARGV[2], KEYS[2], KEYS[3] .. ARGV[3], ARGV[3], ARGV[4], delay,
  ARGV[6])

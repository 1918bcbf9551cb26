#!lua flags=allow-oom
-- stream_retry: ack a failed attempt and schedule the job again, in one step.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- ARGV[1] group, ARGV[2] entry_id, ARGV[3] job_id, ARGV[4] attempt, ARGV[5] delay_ms,
-- ARGV[6] envelope, ARGV[7] error payload (msgpack)
-- Returns 1 if scheduled, 0 if this attempt no longer owned the job (nothing done).
-- Fails before writing anything if delay_ms is not an integer >= 0 (lib/check).
-- @include now
-- @include own_stream
-- @include finish
-- @include check
-- @include mine
-- @include cancelled
-- @include retry
local delay = need(ARGV[5], 0, MAX_SECONDS * 1000, 'delay_ms')
return retry_job(KEYS[1], ARGV[1], ARGV[2], KEYS[1], KEYS[2], KEYS[3] .. ARGV[3], ARGV[3],
  ARGV[4], delay, ARGV[6], ARGV[7], KEYS[4])

#!lua flags=allow-oom
-- list_retry: end a failed attempt and schedule the job again, in one step.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] pending  (list)   the queue's backlog
-- KEYS[3] delayed  (zset)   job ids scored by due time in ms
-- KEYS[4] job key prefix    (hash per job)
-- KEYS[5] stats    (hash)   queue counters
-- ARGV[1] job_id, ARGV[2] attempt, ARGV[3] delay_ms, ARGV[4] envelope, ARGV[5] error (msgpack)
-- Returns 1 if scheduled, 0 if this attempt no longer owned the job (nothing done).
-- Fails before writing anything if delay_ms is not an integer >= 0 (lib/check).
-- @include now
-- @include own_list
-- @include finish
-- @include check
-- @include mine
-- @include cancelled
-- @include retry
local delay = need(ARGV[3], 0, MAX_SECONDS * 1000, 'delay_ms')
return retry_job(KEYS[1], nil, ARGV[4], KEYS[2], KEYS[3], KEYS[4] .. ARGV[1], ARGV[1], ARGV[2],
  delay, ARGV[4], ARGV[5], KEYS[5])

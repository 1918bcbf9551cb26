#!lua flags=allow-oom
-- stream_dead_letter: ack an entry and move it to the dead-letter stream with its error.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- KEYS[5] dead index (hash) job id -> dead-letter entry id
-- ARGV[1] group, ARGV[2] channel prefix, ARGV[3] queue name, ARGV[4] entry_id,
-- ARGV[5] job_id ('' when the payload has none), ARGV[6] attempt ('' = never started: skip the
-- ownership check), ARGV[7] envelope (raw bytes as read), ARGV[8] exception type,
-- ARGV[9] message, ARGV[10] traceback, ARGV[11] worker, ARGV[12] result_ttl_s
-- Returns 1 if dead-lettered, 0 if this attempt no longer owned the entry.
-- Fails before writing anything if result_ttl_s is not an integer from 0 to 2**31-1.
-- @include now
-- @include own_stream
-- @include finish
-- @include check
-- @include cancelled
-- @include dead_letter
local ttl = need(ARGV[12], 0, MAX_SECONDS, 'result_ttl_s')
return dead_letter_job(KEYS[1], ARGV[1], ARGV[4], KEYS[2], KEYS[3] .. ARGV[5], KEYS[4], ARGV[2],
  ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ttl, KEYS[5])

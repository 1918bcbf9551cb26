#!lua flags=allow-oom
-- list_dead_letter: remove a job from the processing list and move it to the dead-letter stream
-- with its error.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- KEYS[5] dead index (hash) job id -> dead-letter entry id
-- ARGV[1] channel prefix, ARGV[2] queue name, ARGV[3] job_id ('' when the payload has none),
-- ARGV[4] attempt ('' = never started: skip the attempt check), ARGV[5] envelope (raw bytes as
-- taken), ARGV[6] exception type, ARGV[7] message, ARGV[8] traceback, ARGV[9] worker,
-- ARGV[10] result_ttl_s
-- Returns 1 if dead-lettered, 0 if this attempt no longer owned the job.
-- Fails before writing anything if result_ttl_s is not an integer from 0 to 2**31-1.
-- @include now
-- @include own_list
-- @include finish
-- @include check
-- @include cancelled
-- @include dead_letter
local ttl = need(ARGV[10], 0, MAX_SECONDS, 'result_ttl_s')
return dead_letter_job(KEYS[1], nil, ARGV[5], KEYS[2], KEYS[3] .. ARGV[3], KEYS[4], ARGV[1],
  ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ttl, KEYS[5])

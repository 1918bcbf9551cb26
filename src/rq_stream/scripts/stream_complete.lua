#!lua flags=allow-oom
-- stream_complete: ack finished jobs and store their results, in one batch.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] job key prefix    (hash per job)
-- KEYS[3] stats    (hash)   queue counters
-- ARGV[1] group, ARGV[2] channel prefix
-- ARGV[3..] groups of 5: entry_id, job_id, attempt, result_ttl_s, result payload
-- Each job is finished only if this attempt still owns it (the job's attempt counter is
-- unchanged) and XACK returns 1, so a re-sent script or a reclaimed job acts once.
-- Returns {finished, positions...}: how many jobs were finished, then the 0-based position in
-- the batch of each job whose result_ttl_s is not an integer from 0 to MAX_SECONDS; such a job
-- is not touched at all (not acked, its record unchanged): the worker dead-letters it.
-- @include now
-- @include own_stream
-- @include finish
-- @include check
-- @include cancelled
-- @include complete
return complete_batch(KEYS[1], ARGV[1], KEYS[2], KEYS[3], ARGV[2], 3, 5, function(i)
  return ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
end)

#!lua flags=allow-oom
-- list_complete: remove finished jobs from the processing list and store their results, in one
-- batch.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] job key prefix    (hash per job)
-- KEYS[3] stats    (hash)   queue counters
-- ARGV[1] channel prefix
-- ARGV[2..] groups of 5: job_id, attempt, result_ttl_s, result payload, envelope
-- Each job is finished only if this attempt still owns it (the job's attempt counter is
-- unchanged) and LREM removed the envelope from this consumer's processing list, so a re-sent
-- script, or a worker that stalled while a reaper gave its jobs to another, acts at most once.
-- Returns {finished, positions...}: how many jobs were finished, then the 0-based position in
-- the batch of each job whose result_ttl_s is not an integer from 0 to MAX_SECONDS; such a job
-- is not touched at all (still in the processing list, its record unchanged): the worker
-- dead-letters it.
-- @include now
-- @include own_list
-- @include finish
-- @include check
-- @include cancelled
-- @include complete
return complete_batch(KEYS[1], nil, KEYS[2], KEYS[3], ARGV[1], 2, 5, function(i)
  return ARGV[i + 4], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
end)

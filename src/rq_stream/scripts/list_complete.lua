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
-- @include finish
-- @include check
local now = now_ms()
local out = {0}
local done = 0
for i = 2, #ARGV, 5 do
  local id, attempt, ttl, res, env = ARGV[i], ARGV[i + 1], whole(ARGV[i + 2], 0, MAX_SECONDS), ARGV[i + 3], ARGV[i + 4]
  if ttl == nil then
    out[#out + 1] = (i - 2) / 5
  else
    local jk = KEYS[2] .. id
    local h = redis.call('HMGET', jk, 'a', 'u', 'wt')
    if h[1] == attempt and redis.call('LREM', KEYS[1], -1, env) == 1 then
      succeed(jk, id, h, res, ttl, now, ARGV[1])
      done = done + 1
    end
  end
end
count(KEYS[3], 'completed', done, now)
out[1] = done
return out

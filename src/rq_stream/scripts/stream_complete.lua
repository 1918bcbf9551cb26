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
-- @include finish
-- @include check
local now = now_ms()
local out = {0}
local done = 0
for i = 3, #ARGV, 5 do
  local eid, id, attempt, ttl, res = ARGV[i], ARGV[i + 1], ARGV[i + 2], whole(ARGV[i + 3], 0, MAX_SECONDS), ARGV[i + 4]
  if ttl == nil then
    out[#out + 1] = (i - 3) / 5
  else
    local jk = KEYS[2] .. id
    local h = redis.call('HMGET', jk, 'a', 'u', 'wt')
    if h[1] == attempt and redis.call('XACK', KEYS[1], ARGV[1], eid) == 1 then
      redis.call('XDEL', KEYS[1], eid)
      succeed(jk, id, h, res, ttl, now, ARGV[2])
      done = done + 1
    end
  end
end
count(KEYS[3], 'completed', done, now)
out[1] = done
return out

-- enqueue: add jobs to one queue, now or later; idempotent by job id.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- KEYS[3] job key prefix    (hash per job at KEYS[3] .. job_id)
-- ARGV    groups of 5: job_id, task name, envelope, delay_ms (0 = none), at_ms (0 = none)
-- Returns one integer per job: 1 added, 0 a job with that id already exists (nothing written).
-- @include now
local now = now_ms()
local out = {}
for i = 1, #ARGV, 5 do
  local id, task, env = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local delay, at = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local jk = KEYS[3] .. id
  if redis.call('EXISTS', jk) == 1 then
    out[#out + 1] = 0
  else
    local due = 0
    if at > 0 then due = at elseif delay > 0 then due = now + delay end
    if due > now then
      redis.call('ZADD', KEYS[2], due, id)
      redis.call('HSET', jk, 's', 'scheduled', 'n', task, 't', now, 'a', 0, 'ta', 0, 'e', env)
    else
      redis.call('XADD', KEYS[1], '*', 'd', env)
      redis.call('HSET', jk, 's', 'queued', 'n', task, 't', now, 'a', 0, 'ta', 0)
    end
    out[#out + 1] = 1
  end
end
return out

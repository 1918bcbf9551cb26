#!lua flags=allow-oom
-- list_start: count an attempt for each taken job, atomically, before it runs.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- ARGV[1] consumer, ARGV[2] channel prefix, ARGV[3] queue name
-- ARGV[4..] groups of 4: job_id, max_attempts, result_ttl_s, envelope
-- Returns one integer per job: the attempt number to run (>= 1); 0 do not run (the job had
-- already finished, or it is no longer in this consumer's processing list because a reaper
-- returned it); -1 too many attempts (dead-lettered, do not run).
-- @include now
-- @include finish
-- @include list_owned
local now = now_ms()
local mine = owned(KEYS[1])
local out = {}
local buried = 0
for i = 4, #ARGV, 4 do
  local id, max, ttl, env = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  local jk = KEYS[3] .. id
  local st = redis.call('HGET', jk, 's')
  if (mine[env] or 0) < 1 then
    out[#out + 1] = 0
  elseif st == 'succeeded' or st == 'failed' then
    redis.call('LREM', KEYS[1], -1, env)
    mine[env] = mine[env] - 1
    out[#out + 1] = 0
  else
    local a = redis.call('HINCRBY', jk, 'a', 1)
    redis.call('HINCRBY', jk, 'ta', 1)
    if redis.call('HEXISTS', jk, 'fs') == 0 then redis.call('HSET', jk, 'fs', now) end
    if a > max then
      -- This start does not happen: the attempts recorded are the ones that did.
      redis.call('HINCRBY', jk, 'a', -1)
      redis.call('HINCRBY', jk, 'ta', -1)
      redis.call('LREM', KEYS[1], -1, env)
      mine[env] = mine[env] - 1
      bury(KEYS[2], jk, ARGV[2], id, env, 'WorkerLost',
        'the job was started ' .. (a - 1) .. ' times and its worker died or lost it each time '
        .. '(max_attempts=' .. max .. '); it may crash its worker (segfault, os._exit, OOM kill)',
        '', ARGV[1], now, ttl, ARGV[3])
      buried = buried + 1
      out[#out + 1] = -1
    else
      redis.call('HSET', jk, 's', 'running', 'w', ARGV[1], 'st', now)
      out[#out + 1] = a
    end
  end
end
count(KEYS[4], 'dead', buried, now)
return out

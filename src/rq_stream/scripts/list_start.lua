#!lua flags=allow-oom
-- list_start: count an attempt for each taken job, atomically, before it runs.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- KEYS[5] dead index (hash) job id -> dead-letter entry id
-- ARGV[1] consumer, ARGV[2] channel prefix, ARGV[3] queue name, ARGV[4] '1' when the worker
-- runs these alone (no -3)
-- ARGV[5..] groups of 4: job_id, max_attempts, result_ttl_s, envelope
-- Returns one integer per job: the attempt number to run (>= 1); 0 do not run (the job had
-- already finished, or it is no longer in this consumer's processing list because a reaper
-- returned it); -1 too many attempts (dead-lettered, do not run); -3 not started: this would
-- be its last attempt and its previous one ended with its worker dying (the record still
-- says running), so the worker runs it alone.
-- Fails before writing anything if any max_attempts or result_ttl_s is not a valid integer.
-- @include now
-- @include finish
-- @include worker_lost
-- @include list_owned
-- @include check
local maxes, ttls = {}, {}
for i = 5, #ARGV, 4 do  -- every job's numbers checked before anything is written
  maxes[i] = need(ARGV[i + 1], 1, MAX_SECONDS, 'max_attempts')
  ttls[i] = need(ARGV[i + 2], 0, MAX_SECONDS, 'result_ttl_s')
end
local now = now_ms()
local mine = owned(KEYS[1])
local out = {}
local buried = 0
local alone = ARGV[4] == '1'
for i = 5, #ARGV, 4 do
  local id, max, ttl, env = ARGV[i], maxes[i], ttls[i], ARGV[i + 3]
  local jk = KEYS[3] .. id
  local h = redis.call('HMGET', jk, 's', 'a')
  local st = h[1]
  if (mine[env] or 0) < 1 then
    out[#out + 1] = 0
  elseif st == 'succeeded' or st == 'failed' then
    redis.call('LREM', KEYS[1], -1, env)
    mine[env] = mine[env] - 1
    out[#out + 1] = 0
  elseif st == 'running' and not alone and tonumber(h[2] or '0') + 1 == max then
    out[#out + 1] = -3
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
      bury(KEYS[2], jk, ARGV[2], id, env, 'WorkerLost', worker_lost_message(jk, a - 1, max),
        '', ARGV[1], now, ttl, ARGV[3], KEYS[5])
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

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
-- returned it); -1 too many attempts (dead-lettered, do not run); -4 expired (its deadline
-- passed: not run); -3 not started: this would
-- be its last attempt and its previous one ended with its worker dying (the record still
-- says running), so the worker runs it alone.
-- Fails before writing anything if any max_attempts or result_ttl_s is not a valid integer.
-- @include now
-- @include own_list
-- @include finish
-- @include worker_lost
-- @include cancelled
-- @include expire
-- @include start
-- @include check
local maxes, ttls = {}, {}
for i = 5, #ARGV, 4 do  -- every job's numbers checked before anything is written
  maxes[i] = need(ARGV[i + 1], 1, MAX_SECONDS, 'max_attempts')
  ttls[i] = need(ARGV[i + 2], 0, MAX_SECONDS, 'result_ttl_s')
end
local now = now_ms()
local mine = owned(KEYS[1])
local out = {}
local buried, expired = 0, 0
local alone = ARGV[4] == '1'
for i = 5, #ARGV, 4 do
  local id, env = ARGV[i], ARGV[i + 3]
  local code = 0
  if (mine[env] or 0) > 0 then
    code = start_entry(KEYS[1], nil, env, KEYS[2], KEYS[3] .. id, ARGV[1], ARGV[2], ARGV[3], id,
      maxes[i], ttls[i], now, nil, alone, KEYS[5])
    -- 0 (finished), -1 (dead-lettered), -4 (expired) took this envelope out of the list.
    if code == 0 or code == -1 or code == -4 then mine[env] = mine[env] - 1 end
  end
  if code == -1 then buried = buried + 1 elseif code == -4 then expired = expired + 1 end
  out[#out + 1] = code
end
count(KEYS[4], 'dead', buried, now)
count(KEYS[4], 'expired', expired, now)
return out

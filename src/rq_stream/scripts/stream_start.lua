-- stream_start: count an attempt for each delivered entry, atomically, before it runs.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] channel prefix, ARGV[4] queue name
-- ARGV[5..] groups of 4: entry_id, job_id, max_attempts, result_ttl_s
-- Returns one integer per entry: the attempt number to run (>= 1); 0 the job had already
-- finished (entry acked, do not run); -1 too many attempts (dead-lettered, do not run).
-- @include now
-- @include finish
local now = now_ms()
local out = {}
local buried = 0
for i = 5, #ARGV, 4 do
  local eid, id, max, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local jk = KEYS[3] .. id
  local h = redis.call('HMGET', jk, 's', 'a', 'ta', 'fs')
  local st = h[1]
  if st == 'succeeded' or st == 'failed' then
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = 0
  else
    local a = tonumber(h[2] or '0') + 1
    if a > max then
      -- This start does not happen: the attempts recorded are the ones that did.
      local entry = redis.call('XRANGE', KEYS[1], eid, eid)
      local env = ''
      if entry[1] then env = entry[1][2][2] end
      if redis.call('XACK', KEYS[1], ARGV[1], eid) == 1 then
        redis.call('XDEL', KEYS[1], eid)
        bury(KEYS[2], jk, ARGV[3], id, env, 'WorkerLost',
          'the job was started ' .. (a - 1) .. ' times and its worker died or lost it each time '
          .. '(max_attempts=' .. max .. '); it may crash its worker (segfault, os._exit, OOM kill)',
          '', ARGV[2], now, ttl, ARGV[4])
        buried = buried + 1
      end
      out[#out + 1] = -1
    else
      redis.call('HSET', jk, 's', 'running', 'w', ARGV[2], 'st', now, 'a', a,
        'ta', tonumber(h[3] or '0') + 1, 'fs', h[4] or now)
      out[#out + 1] = a
    end
  end
end
count(KEYS[4], 'dead', buried, now)
return out

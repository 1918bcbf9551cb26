-- stream_replay: put dead letters back on the queue; each keeps its job id and history.
-- KEYS[1] dead     (stream) dead letters
-- KEYS[2] stream   (stream) the queue's backlog
-- KEYS[3] job key prefix    (hash per job)
-- ARGV    dead-letter entry ids
-- Returns the number of jobs replayed.
local n = 0
for _, did in ipairs(ARGV) do
  local entry = redis.call('XRANGE', KEYS[1], did, did)
  if entry[1] then
    local f = entry[1][2]
    local env, id = nil, ''
    for j = 1, #f, 2 do
      if f[j] == 'd' then env = f[j + 1] elseif f[j] == 'job' then id = f[j + 1] end
    end
    redis.call('XDEL', KEYS[1], did)
    if env then
      if id ~= '' then
        redis.call('XADD', KEYS[2], '*', 'j', id, 'd', env)
      else
        redis.call('XADD', KEYS[2], '*', 'd', env)
      end
      if id ~= '' then
        local jk = KEYS[3] .. id
        redis.call('PERSIST', jk)
        redis.call('HSET', jk, 's', 'queued', 'a', 0)
        redis.call('HINCRBY', jk, 'rp', 1)
        redis.call('HDEL', jk, 'r', 'ft')
      end
      n = n + 1
    end
  end
end
return n

-- replay(dead, job_prefix, ids, backlog, index): put dead letters back on the backlog (requeue,
-- behind the jobs waiting; id is '' for a payload that named no job); each keeps its job id and
-- history (attempts start again, the replay is counted), and leaves the dead-letter index (hash:
-- job id -> entry id) if it named this entry. Returns the number of jobs replayed.
-- Needs lib/own_stream or lib/own_list.
local function replay(dead, job_prefix, ids, backlog, index)
  local n = 0
  for _, did in ipairs(ids) do
    local entry = redis.call('XRANGE', dead, did, did)
    if entry[1] then
      local f = entry[1][2]
      local env, id = nil, ''
      for j = 1, #f, 2 do
        if f[j] == 'd' then env = f[j + 1] elseif f[j] == 'job' then id = f[j + 1] end
      end
      redis.call('XDEL', dead, did)
      if id ~= '' and redis.call('HGET', index, id) == did then redis.call('HDEL', index, id) end
      if env then
        requeue(backlog, id, env, false)
        if id ~= '' then
          local jk = job_prefix .. id
          redis.call('PERSIST', jk)
          redis.call('HSET', jk, 's', 'queued', 'a', 0)
          redis.call('HINCRBY', jk, 'rp', 1)
          redis.call('HDEL', jk, 'r', 'ft', 'ls', 'la', 'x')  -- replayed: no deadline
        end
        n = n + 1
      end
    end
  end
  return n
end

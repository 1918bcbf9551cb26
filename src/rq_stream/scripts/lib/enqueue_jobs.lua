-- enqueue_jobs(push): the body of enqueue.lua and list_enqueue.lua (see their headers for
-- KEYS and ARGV); push(id, env) puts a job that is due now on the backlog. A delayed job due
-- sooner than every other is announced on the wake channel (ARGV[1]), once per call, so
-- sleeping workers move it on time. ``first``: the ARGV index of the first job (default 2).
-- Needs lib/now.
local function enqueue_jobs(push, first)
  local now = now_ms()
  local out = {}
  local head = nil  -- due time of the earliest delayed job before this call (false: none)
  local soonest = nil
  local size = 7
  first = first or 2
  if ARGV[first] == '' then first, size = first + 1, 8 end  -- each job has a deadline field
  for i = first, #ARGV, size do
    local id, task, env = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local delay, at = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
    local uidx, uttl = tonumber(ARGV[i + 5]), ARGV[i + 6]
    local jk = KEYS[3] .. id
    local holder = false
    if uidx > 0 then
      -- The holder counts only while its job is unfinished: a finished job whose key somehow
      -- survived (it is deleted when the job ends) does not block new ones.
      holder = redis.call('GET', KEYS[uidx])
      if holder then
        local st = redis.call('HGET', KEYS[3] .. holder, 's')
        if not st or st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'expired' then
          holder = false
        end
      end
    end
    if redis.call('EXISTS', jk) == 1 then
      out[#out + 1] = 0
    elseif holder then
      out[#out + 1] = holder
    else
      local due = 0
      if at > 0 then due = at elseif delay > 0 then due = now + delay end
      if due > now then
        if head == nil then
          head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or false
          if head then head = tonumber(head) end
        end
        if not soonest or due < soonest then soonest = due end
        redis.call('ZADD', KEYS[2], due, id)
        redis.call('HSET', jk, 's', 'scheduled', 'n', task, 't', now, 'e', env)
      else
        push(id, env)
        redis.call('HSET', jk, 's', 'queued', 'n', task, 't', now)  -- attempts: absent = 0
      end
      if size == 8 and ARGV[i + 7] ~= '0' then
        -- 'x': the deadline (ms) by which it must start (lib/start.lua, lib/expire.lua).
        redis.call('HSET', jk, 'x', ARGV[i + 7])
      end
      if uidx > 0 then
        -- 'u' names the unique key so the scripts that end the job can delete it (lib/finish).
        redis.call('SET', KEYS[uidx], id, 'PX', uttl)
        redis.call('HSET', jk, 'u', KEYS[uidx])
      end
      out[#out + 1] = 1
    end
  end
  if soonest and (not head or soonest < head) then redis.call('PUBLISH', ARGV[1], soonest) end
  return out
end

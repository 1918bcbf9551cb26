-- move_due(delayed, job_prefix, limit, backlog): move up to `limit` due jobs from the delayed
-- set to the backlog (requeue, behind the jobs waiting); safe from any number of workers at
-- once (a member moves only if ZREM removed it). Returns {moved, ms until the next due job (-1 when none)}.
-- Needs lib/now and lib/own_stream or lib/own_list.
local function move_due(delayed, job_prefix, limit, backlog)
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
  local moved = 0
  for _, id in ipairs(ids) do
    if redis.call('ZREM', delayed, id) == 1 then
      local jk = job_prefix .. id
      local env = redis.call('HGET', jk, 'e')
      if env then
        requeue(backlog, id, env, false)
        redis.call('HSET', jk, 's', 'queued')
        redis.call('HDEL', jk, 'e')
        moved = moved + 1
      end
    end
  end
  local nxt = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  local wait = -1
  if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
  return {moved, wait}
end

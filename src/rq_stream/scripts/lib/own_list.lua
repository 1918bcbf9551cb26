-- Ownership on the lists backend: a job is this consumer's while its envelope (the job's `ref`)
-- is in the consumer's processing list (`owner`). Same functions as lib/own_stream, same shape;
-- the lists backend has no consumer group (`group` is ignored: pass nil).
-- release(owner, group, ref): end this consumer's ownership; true if it still owned the job.
local function release(proc, _, env)
  return redis.call('LREM', proc, -1, env) == 1
end

-- envelope(owner, ref): the payload of an owned job (the caller checked it owns `ref`).
local function envelope(_, env)
  return env
end

-- requeue(backlog, id, env, front): put a job back on the backlog, at the end taken next when
-- `front` (jobs handed back) or behind the jobs already waiting.
local function requeue(pending, _, env, front)
  if front then
    redis.call('RPUSH', pending, env)
  else
    redis.call('LPUSH', pending, env)
  end
end

-- owned(proc): how many times each element occurs in a processing list (kept short: one
-- worker's jobs). Works on every server version (no LPOS).
local function owned(proc)
  local t = {}
  for _, v in ipairs(redis.call('LRANGE', proc, 0, -1)) do t[v] = (t[v] or 0) + 1 end
  return t
end

-- push_all(cmd, list, items): LPUSH/RPUSH many elements in bounded chunks (unpack limits).
local function push_all(cmd, list, items)
  for i = 1, #items, 500 do
    redis.call(cmd, list, unpack(items, i, math.min(i + 499, #items)))
  end
end

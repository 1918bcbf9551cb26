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

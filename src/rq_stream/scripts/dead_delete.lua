#!lua flags=allow-oom
-- dead_delete: delete dead letters for good, with the dead-letter index entries naming them.
-- Allowed at maxmemory: it only frees memory.
-- KEYS[1] dead       (stream) dead letters
-- KEYS[2] dead index (hash)   job id -> dead-letter entry id
-- ARGV    dead-letter entry ids
-- Returns the number of entries deleted.
local n = 0
for _, did in ipairs(ARGV) do
  local entry = redis.call('XRANGE', KEYS[1], did, did)
  if entry[1] then
    local f = entry[1][2]
    for j = 1, #f, 2 do
      if f[j] == 'job' and redis.call('HGET', KEYS[2], f[j + 1]) == did then
        redis.call('HDEL', KEYS[2], f[j + 1])
      end
    end
    n = n + redis.call('XDEL', KEYS[1], did)
  end
end
return n

-- stream_move_due: move delayed jobs that are due onto the stream, in a bounded batch.
-- Safe to run from any number of workers at once: a member moves only if ZREM removed it.
-- KEYS[1] delayed  (zset)   job ids scored by due time in ms
-- KEYS[2] stream   (stream) the queue's backlog
-- KEYS[3] job key prefix    (hash per job; holds the envelope in field 'e' while delayed)
-- ARGV[1] batch limit
-- Returns {moved, ms until the next due job (-1 when none)}.
-- @include now
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local jk = KEYS[3] .. id
    local env = redis.call('HGET', jk, 'e')
    if env then
      redis.call('XADD', KEYS[2], '*', 'j', id, 'd', env)
      redis.call('HSET', jk, 's', 'queued')
      redis.call('HDEL', jk, 'e')
      moved = moved + 1
    end
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
return {moved, wait}

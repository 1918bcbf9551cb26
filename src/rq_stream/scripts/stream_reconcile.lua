#!lua flags=allow-oom
-- stream_reconcile: at a stop, return to the queue every entry pending for this consumer that
-- the worker never received or started (a read, take or start whose reply was cut off), so
-- none waits for the lease. An attempt this consumer counted is not charged (it never ran).
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] job key prefix    (hash per job)
-- ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids the worker still answers for
-- Returns the number of entries returned.
-- @include own_stream
-- @include uncount
local known = {}
for i = 3, #ARGV do known[ARGV[i]] = true end
local n = 0
local from = '-'
while true do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], from, '+', 500, ARGV[2])
  for _, p in ipairs(pending) do
    local eid = p[1]
    if not known[eid] then
      local entry = redis.call('XRANGE', KEYS[1], eid, eid)[1]
      redis.call('XACK', KEYS[1], ARGV[1], eid)
      if entry then
        local id = job_of(entry[2])
        redis.call('XDEL', KEYS[1], eid)
        redis.call('XADD', KEYS[1], '*', unpack(entry[2]))
        if id then uncount_if_mine(KEYS[2] .. id, ARGV[2]) end
        n = n + 1
      end
    end
  end
  if #pending < 500 then break end
  from = '(' .. pending[#pending][1]
end
return n

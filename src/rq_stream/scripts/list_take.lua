#!lua flags=allow-oom
-- list_take: after a blocking move delivered one job, take up to N more without blocking, and
-- mark this consumer alive (so a reaper knows whose processing list the jobs are in).
-- KEYS[1] pending    (list)   the queue's backlog
-- KEYS[2] proc       (list)   this consumer's processing list
-- KEYS[3] consumers  (set)    consumers that may own a processing list
-- KEYS[4] heartbeat  (string) this consumer's last beat (server ms), with a TTL
-- ARGV[1] how many more to take, ARGV[2] '1' to use LMOVE, '0' for RPOPLPUSH (servers < 6.2),
-- ARGV[3] consumer name, ARGV[4] heartbeat TTL in ms
-- Returns the envelopes taken, oldest first.
-- @include now
-- @include list_beat
beat(KEYS[3], KEYS[4], ARGV[3], tonumber(ARGV[4]), now_ms())
local out = {}
for _ = 1, tonumber(ARGV[1]) do
  local env
  if ARGV[2] == '1' then
    env = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  else
    env = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  end
  if not env then break end
  out[#out + 1] = env
end
return out

#!lua flags=allow-oom
-- list_renew: beat for this consumer and check that running jobs are still its own.
-- KEYS[1] proc       (list)   this consumer's processing list
-- KEYS[2] job key prefix      (hash per job)
-- KEYS[3] consumers  (set)    consumers that may own a processing list
-- KEYS[4] heartbeat  (string) this consumer's last beat (server ms), with a TTL
-- ARGV[1] consumer, ARGV[2] heartbeat TTL in ms,
-- ARGV[3..] groups of 4: token, job_id, attempt, SHA1 hex of the envelope
-- A job is still owned when its attempt counter is unchanged and its envelope is in this
-- consumer's processing list (a reaper moves the list away when the consumer stalled).
-- Returns the tokens of the jobs this consumer no longer owns.
-- @include now
-- @include list_beat
-- @include own_list
beat(KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]), now_ms())
local mine = {}
for env, n in pairs(owned(KEYS[1])) do
  local h = redis.sha1hex(env)
  mine[h] = (mine[h] or 0) + n
end
local lost = {}
for i = 3, #ARGV, 4 do
  local token, id, attempt, digest = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if (mine[digest] or 0) < 1 or redis.call('HGET', KEYS[2] .. id, 'a') ~= attempt then
    lost[#lost + 1] = token
  end
end
return lost

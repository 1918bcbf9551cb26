#!lua flags=allow-oom
-- list_leave: a consumer stops. It leaves the consumer set only when its processing list is
-- empty; otherwise its heartbeat is dropped so that the next reaper returns what is left.
-- KEYS[1] proc       (list)   the consumer's processing list
-- KEYS[2] heartbeat  (string) the consumer's last beat
-- KEYS[3] consumers  (set)    consumers that may own a processing list
-- ARGV[1] consumer name
-- Returns the number of jobs left in the processing list (0: the consumer left).
redis.call('DEL', KEYS[2])
local n = redis.call('LLEN', KEYS[1])
if n == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return n

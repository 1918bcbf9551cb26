#!lua flags=allow-oom
-- queue_pause: pause a queue (workers stop taking from it; enqueues still succeed) and tell its
-- workers at once. Allowed at maxmemory: pausing is what an operator may need then.
-- KEYS[1] paused   (string) the server time (ms) of the pause, while paused
-- ARGV[1] pause channel (pub/sub: "1" paused, "0" resumed)
-- Returns 1 if the queue was running, 0 if it was already paused (then nothing is written).
-- @include now
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], now_ms())
redis.call('PUBLISH', ARGV[1], '1')
return 1

#!lua flags=allow-oom
-- queue_resume: resume a paused queue and tell its workers at once.
-- KEYS[1] paused   (string) the server time (ms) of the pause, while paused
-- ARGV[1] pause channel (pub/sub: "1" paused, "0" resumed)
-- Returns 1 if the queue was paused, 0 if it was not (then nothing is written).
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[1], '0')
return 1

#!lua flags=allow-oom
-- list_heartbeat: a lists-backend consumer says it is alive (and may own a processing list).
-- KEYS[1] consumers  (set)    consumers that may own a processing list of this queue
-- KEYS[2] heartbeat  (string) this consumer's last beat (server ms), with a TTL
-- ARGV[1] consumer name, ARGV[2] TTL in ms
-- Returns 1.
-- @include now
-- @include list_beat
beat(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), now_ms())
return 1

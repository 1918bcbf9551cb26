#!lua flags=allow-oom
-- worker_heartbeat: a worker says it is alive and what it is doing (read by `rq-stream info`).
-- Allowed at maxmemory: a worker draining a full Redis must not look dead meanwhile.
-- KEYS[1] worker   (string) this worker's description, with a TTL
-- ARGV[1] the description (msgpack), ARGV[2] TTL in ms
-- Returns 1.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1

#!lua flags=allow-oom
-- queue_register: a worker adds the queues it serves to the registry read by `rq-stream info`.
-- Allowed at maxmemory, so a worker can start against a full Redis (and drain it); producers
-- register with a plain SADD, which is refused there like their enqueue.
-- KEYS[1] queues   (set) queue names known to this prefix
-- ARGV    the queue names
-- Returns how many were new.
return redis.call('SADD', KEYS[1], unpack(ARGV))

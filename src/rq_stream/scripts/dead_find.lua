#!lua flags=allow-oom
-- dead_find: one job's dead letter through the dead-letter index, without scanning the stream.
-- Allowed at maxmemory: it reads, and at most deletes a stale index entry.
-- KEYS[1] dead       (stream) dead letters
-- KEYS[2] dead index (hash)   job id -> dead-letter entry id
-- ARGV[1] job id
-- Returns {entry id, fields} of the job's newest dead letter, or {} when it has none. An index
-- entry naming an entry no longer in the stream (trimmed, deleted by hand) is dropped.
local did = redis.call('HGET', KEYS[2], ARGV[1])
if not did then return {} end
local entry = redis.call('XRANGE', KEYS[1], did, did)
if entry[1] then return entry[1] end
redis.call('HDEL', KEYS[2], ARGV[1])
return {}

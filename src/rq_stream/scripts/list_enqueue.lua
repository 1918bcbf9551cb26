-- list_enqueue: add jobs to one lists-backend queue, now or later; idempotent by job id; unique
-- jobs deduplicated (same rules and job record as enqueue.lua, but the backlog is a list).
-- KEYS[1] pending  (list)   the queue's backlog: LPUSH in, taken from the right
-- KEYS[2] delayed  (zset)   job ids scored by due time in ms
-- KEYS[3] job key prefix    (hash per job at KEYS[3] .. job_id)
-- KEYS[4..] unique (string) job id of the live unique job with that digest, with a TTL
-- ARGV[1] wake channel (pub/sub: a delayed job became the soonest), then
-- ARGV[2..] groups of 7: job_id, task name, envelope, delay_ms (0 = none), at_ms (0 = none),
--         unique key index into KEYS (0 = not unique), unique ttl_ms; or ARGV[2] '' (never a
--         job id) and from ARGV[3] groups of 8: the same, then expires_at_ms (0 = none), the
--         instant by which the job must start
-- Returns one reply per job: 1 added, 0 a job with that id already exists (nothing written),
-- or the id of the live job holding the same unique key (nothing written).
-- @include now
-- @include own_list
-- @include enqueue_jobs
local ready = {}
local out = enqueue_jobs(function(_, env) ready[#ready + 1] = env end)
push_all('LPUSH', KEYS[1], ready)
return out

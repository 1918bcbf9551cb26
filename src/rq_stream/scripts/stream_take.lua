#!lua flags=allow-oom
-- stream_take: read up to COUNT new entries without blocking and start them, in one step (the
-- worker's busy path: one round trip per batch instead of a read and then a start).
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- KEYS[5] dead index (hash) job id -> dead-letter entry id
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] channel prefix, ARGV[4] queue name, ARGV[5] count,
-- ARGV[6] default max_attempts, ARGV[7] default result_ttl_s,
-- ARGV[8..] groups of 3: task name, max_attempts, result_ttl_s (the worker's tasks)
-- Returns a flat array of quadruples: entry id, payload, code, job id ('' if none); code as in
-- lib/start.lua (-3: not started, to run alone; -4: expired, not run), or -2 when the entry
-- names no job ('j' field
-- missing: not written by rq_stream) and was not started: the worker decodes it and
-- dead-letters it.
-- Fails before reading or writing anything if a count, max_attempts or TTL is not an integer.
-- @include now
-- @include own_stream
-- @include finish
-- @include worker_lost
-- @include cancelled
-- @include expire
-- @include start
-- @include check
-- Every number is checked before anything is written (XREADGROUP included).
local default_max = need(ARGV[6], 1, MAX_SECONDS, 'max_attempts')
local default_ttl = need(ARGV[7], 0, MAX_SECONDS, 'result_ttl_s')
local limits = {}
for i = 8, #ARGV, 3 do
  limits[ARGV[i]] = {need(ARGV[i + 1], 1, MAX_SECONDS, 'max_attempts'),
    need(ARGV[i + 2], 0, MAX_SECONDS, 'result_ttl_s')}
end
local count_n = need(ARGV[5], 1, 100000, 'count')
local now = now_ms()
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count_n,
  'STREAMS', KEYS[1], '>')
local out = {}
local buried, expired = 0, 0
if read then
  for _, entry in ipairs(read[1][2]) do
    local eid = entry[1]
    local id, env = job_of(entry[2])
    local code = -2
    if id then
      local jk = KEYS[3] .. id
      local h = redis.call('HMGET', jk, 's', 'a', 'ta', 'fs', 'x', 'n')
      local limit = limits[h[6] or '']
      local max, ttl = default_max, default_ttl
      if limit then max, ttl = limit[1], limit[2] end
      code = start_entry(KEYS[1], ARGV[1], eid, KEYS[2], jk, ARGV[2], ARGV[3], ARGV[4], id,
        max, ttl, now, h, false, KEYS[5])
      if code == -1 then buried = buried + 1 elseif code == -4 then expired = expired + 1 end
    end
    out[#out + 1] = eid
    out[#out + 1] = env
    out[#out + 1] = code
    out[#out + 1] = id or ''
  end
end
count(KEYS[4], 'dead', buried, now)
count(KEYS[4], 'expired', expired, now)
return out

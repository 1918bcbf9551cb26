#!lua flags=allow-oom
-- stream_start: count an attempt for each delivered entry, atomically, before it runs.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] dead     (stream) dead letters
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] stats    (hash)   queue counters
-- KEYS[5] dead index (hash) job id -> dead-letter entry id
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] channel prefix, ARGV[4] queue name, ARGV[5] '1' when
-- the worker runs these alone (no -3)
-- ARGV[6..] groups of 4: entry_id, job_id, max_attempts, result_ttl_s
-- Returns one integer per entry: the attempt number to run (>= 1); 0 do not run it (the job had
-- already finished, or the entry is no longer pending for this consumer: another worker
-- reclaimed it while this one stalled between reading and starting); -1 too many attempts
-- (dead-lettered, do not run); -4 expired (its deadline passed: not run); -3 not started: its
-- last attempt, after a crash, runs alone.
-- Fails before writing anything if any max_attempts or result_ttl_s is not a valid integer.
-- @include now
-- @include own_stream
-- @include finish
-- @include worker_lost
-- @include cancelled
-- @include expire
-- @include start
-- @include check
local max, ttl = {}, {}
for i = 6, #ARGV, 4 do  -- every job's numbers checked before anything is written
  max[i] = need(ARGV[i + 2], 1, MAX_SECONDS, 'max_attempts')
  ttl[i] = need(ARGV[i + 3], 0, MAX_SECONDS, 'result_ttl_s')
end
local now = now_ms()
local out = {}
local buried, expired = 0, 0
local alone = ARGV[5] == '1'
for i = 6, #ARGV, 4 do
  local code = 0
  if pending_to(KEYS[1], ARGV[1], ARGV[i], ARGV[2]) then
    code = start_entry(KEYS[1], ARGV[1], ARGV[i], KEYS[2], KEYS[3] .. ARGV[i + 1], ARGV[2],
      ARGV[3], ARGV[4], ARGV[i + 1], max[i], ttl[i], now, nil, alone, KEYS[5])
  end
  if code == -1 then buried = buried + 1 elseif code == -4 then expired = expired + 1 end
  out[#out + 1] = code
end
count(KEYS[4], 'dead', buried, now)
count(KEYS[4], 'expired', expired, now)
return out

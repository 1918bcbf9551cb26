-- stream_replay: put dead letters back on the queue; each keeps its job id and history.
-- KEYS[1] dead     (stream) dead letters
-- KEYS[2] stream   (stream) the queue's backlog
-- KEYS[3] job key prefix    (hash per job)
-- KEYS[4] dead index (hash) job id -> dead-letter entry id
-- ARGV    dead-letter entry ids
-- Returns the number of jobs replayed.
-- @include replay
return replay(KEYS[1], KEYS[3], ARGV, function(id, env)
  if id ~= '' then
    redis.call('XADD', KEYS[2], '*', 'j', id, 'd', env)
  else
    redis.call('XADD', KEYS[2], '*', 'd', env)
  end
end, KEYS[4])

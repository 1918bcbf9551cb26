#!lua flags=allow-oom
-- list_move_due: move delayed jobs that are due onto the backlog list, in a bounded batch.
-- Safe to run from any number of workers at once: a member moves only if ZREM removed it.
-- KEYS[1] delayed  (zset)   job ids scored by due time in ms
-- KEYS[2] pending  (list)   the queue's backlog (LPUSH: behind the jobs already waiting)
-- KEYS[3] job key prefix    (hash per job; holds the envelope in field 'e' while delayed)
-- ARGV[1] batch limit
-- Returns {moved, ms until the next due job (-1 when none)}.
-- @include now
-- @include own_list
-- @include move_due
return move_due(KEYS[1], KEYS[3], tonumber(ARGV[1]), KEYS[2])

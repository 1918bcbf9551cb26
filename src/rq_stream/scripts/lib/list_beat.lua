-- beat(consumers, hb, consumer, ttl_ms, now): mark a lists-backend consumer alive.
-- The heartbeat key holds the server time of the last beat (reapers compare it with their lease)
-- and expires after ttl_ms; the consumer joins the queue's consumer set so reapers look at it.
local function beat(consumers, hb, consumer, ttl, now)
  redis.call('SADD', consumers, consumer)
  redis.call('SET', hb, now, 'PX', ttl)
end

--[[
  Marks a job record watched (a live event stream follows it, or a caller waits for its end), so
  the job scripts publish its events from now on, and returns it, in one step: a change after this
  is published, one before it is in the record returned. Leaves the TTL alone; writes nothing when
  the record is gone.
  KEYS[1] record
  Returns the record's field, value pairs (empty when gone).
]]
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then redis.call('HSET', KEYS[1], 'watched', '1') end
return h

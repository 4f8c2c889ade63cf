--[[
  Deletes a schedule, its index entry and its name.
  KEYS[1] name hash, KEYS[2] schedule hash, KEYS[3] schedules index
  ARGV[1] id
  Returns 1 when deleted, 0 when it was gone.
]]
local name = redis.call('HGET', KEYS[2], 'name')
redis.call('ZREM', KEYS[3], ARGV[1])
if not name then return 0 end
if redis.call('HGET', KEYS[1], name) == ARGV[1] then redis.call('HDEL', KEYS[1], name) end
redis.call('DEL', KEYS[2])
return 1

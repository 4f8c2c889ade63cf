--[[
  Creates a schedule atomically, unless its name is taken or MAX_SCHEDULES exist.
  KEYS[1] name -> id hash, KEYS[2] schedule hash, KEYS[3] schedules index
  ARGV[1] name, ARGV[2] id, ARGV[3] created ms, ARGV[4] most schedules (0: no bound), ARGV[5..] field, value pairs
  Returns {''} when created, {'name', holder id} when the name is taken, {'limit', count} at the bound.
]]
local max = tonumber(ARGV[4])
if max > 0 then
  local count = redis.call('ZCARD', KEYS[3])
  if count >= max then return {'limit', count} end
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return {'name', redis.call('HGET', KEYS[1], ARGV[1])} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return {''}

--[[
  Creates a job definition of the hetuflow scheduler API, unless MAX_JOB_DEFINITIONS exist.
  KEYS[1] definition hash, KEYS[2] definitions index
  ARGV[1] id, ARGV[2] created ms, ARGV[3] most definitions (0: no bound), ARGV[4] the definition JSON
  Returns {''} when created, {'limit', count} at the bound, {'exists'} when the id is taken.
]]
local max = tonumber(ARGV[3])
if max > 0 then
  local count = redis.call('ZCARD', KEYS[2])
  if count >= max then return {'limit', count} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'doc', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return {''}

--[[
  Replaces a schedule's fields if it still has version ARGV[3], moving its name in the name hash
  when it changed (refused when the new name is another schedule's).
  KEYS[1] name hash, KEYS[2] schedule hash
  ARGV[1] id, ARGV[2] new name, ARGV[3] expected version, ARGV[4..] field, value pairs
  Returns {'ok'}, {'gone'}, {'stale'} or {'name', holder id}.
]]
if redis.call('EXISTS', KEYS[2]) == 0 then return {'gone'} end
if redis.call('HGET', KEYS[2], 'version') ~= ARGV[3] then return {'stale'} end
local old = redis.call('HGET', KEYS[2], 'name')
if old ~= ARGV[2] then
  if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[1]) == 0 then return {'name', redis.call('HGET', KEYS[1], ARGV[2])} end
  if old and redis.call('HGET', KEYS[1], old) == ARGV[1] then redis.call('HDEL', KEYS[1], old) end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
return {'ok'}

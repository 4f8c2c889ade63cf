--[[
  Creates a schedule atomically, unless its name is taken.
  KEYS[1] name -> id hash, KEYS[2] schedule hash, KEYS[3] schedules index
  ARGV[1] name, ARGV[2] id, ARGV[3] created ms, ARGV[4..] field, value pairs
  Returns '' when created, else the id of the schedule holding the name.
]]
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return redis.call('HGET', KEYS[1], ARGV[1]) end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return ''

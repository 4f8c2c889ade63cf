--[[
  Creates a function: claims its name (refused when another id holds it), writes the record, its
  version 1 and its index entries.
  KEYS[1] names, KEYS[2] record, KEYS[3] version hash, KEYS[4] functions index, KEYS[5] project index
  ARGV[1] name, ARGV[2] id, ARGV[3] created ms, ARGV[4] number of record args n,
  ARGV[5..4+n] record field/value pairs, then version pairs
  Returns 'OK', 'ID' (id already used) or the id holding the name.
]]
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder then return holder end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'ID' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local n = tonumber(ARGV[4])
redis.call('HSET', KEYS[2], unpack(ARGV, 5, 4 + n))
redis.call('HSET', KEYS[3], unpack(ARGV, 5 + n))
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
return 'OK'

--[[
  Applies a merged update when the record is still at the version it was read at (optimistic:
  'STALE' makes the caller re-read and merge again). A new name is claimed and the old one freed;
  with ARGV[4] = 1 the new version's hash is written and the replaced one expires after ARGV[5] s.
  KEYS[1] record, KEYS[2] names, KEYS[3] new version hash, KEYS[4] old version hash,
  KEYS[5] old project index, KEYS[6] new project index
  ARGV[1] id, ARGV[2] expected version, ARGV[3] new name, ARGV[4] bump 1|0, ARGV[5] retain s,
  ARGV[6] created ms, ARGV[7] number of record args n, ARGV[8..7+n] record pairs, then version pairs
  Returns 'OK', 'GONE', 'STALE' or 'NAME:<holder id>'.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'GONE' end
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 'STALE' end
local old = redis.call('HGET', KEYS[1], 'name')
if old ~= ARGV[3] then
  local holder = redis.call('HGET', KEYS[2], ARGV[3])
  if holder and holder ~= ARGV[1] then return 'NAME:' .. holder end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
  if old and redis.call('HGET', KEYS[2], old) == ARGV[1] then redis.call('HDEL', KEYS[2], old) end
end
local n = tonumber(ARGV[7])
redis.call('HSET', KEYS[1], unpack(ARGV, 8, 7 + n))
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[3], unpack(ARGV, 8 + n))
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[5]))
end
if KEYS[5] ~= KEYS[6] then
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
end
return 'OK'

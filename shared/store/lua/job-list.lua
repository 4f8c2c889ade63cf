--[[
  Job listing: one index, or the intersection of several (into KEYS[#KEYS], a scratch key deleted
  before returning), within a created-ms range, newest first. Prunes entries past the TTL first.
  KEYS[1..n] indexes, KEYS[n+1] scratch
  ARGV[1] min ms, ARGV[2] max ms, ARGV[3] offset, ARGV[4] limit, ARGV[5] cutoff ms,
  ARGV[6] '1': each id followed by its created ms (a sharded listing merges shards by it)
  Returns {total, id...} or {total, id, ms, id, ms...}.
]]
local n = #KEYS - 1
for i = 1, n do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[5]) end
local key = KEYS[1]
if n > 1 then
  local args = { KEYS[#KEYS], n }
  for i = 1, n do args[#args + 1] = KEYS[i] end
  args[#args + 1] = 'AGGREGATE'
  args[#args + 1] = 'MAX'
  redis.call('ZINTERSTORE', unpack(args))
  key = KEYS[#KEYS]
end
local total = redis.call('ZCOUNT', key, ARGV[1], ARGV[2])
local ids
if ARGV[6] == '1' then
  ids = redis.call('ZREVRANGEBYSCORE', key, ARGV[2], ARGV[1], 'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
else
  ids = redis.call('ZREVRANGEBYSCORE', key, ARGV[2], ARGV[1], 'LIMIT', ARGV[3], ARGV[4])
end
if n > 1 then redis.call('DEL', KEYS[#KEYS]) end
table.insert(ids, 1, total)
return ids

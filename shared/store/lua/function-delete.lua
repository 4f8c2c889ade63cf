--[[
  Deletes a function: frees its name, removes the record, statistics and index entries; its current
  version expires after ARGV[4] s (jobs in flight finish on it). The project index and version hash
  are passed as the caller read them: when the record moved meanwhile, 'STALE' makes it read again.
  KEYS[1] record, KEYS[2] names, KEYS[3] functions index, KEYS[4] stats, KEYS[5] durations,
  KEYS[6] the project's index, KEYS[7] the current version's hash
  ARGV[1] id, ARGV[2] project as read, ARGV[3] version as read, ARGV[4] retain s
  Returns 1, 0 when unknown, or 'STALE'.
]]
local cur = redis.call('HMGET', KEYS[1], 'name', 'project', 'version')
local name = cur[1]
if not name then return 0 end
if (cur[2] or '') ~= ARGV[2] or (cur[3] or '1') ~= ARGV[3] then return 'STALE' end
if redis.call('HGET', KEYS[2], name) == ARGV[1] then redis.call('HDEL', KEYS[2], name) end
redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('EXPIRE', KEYS[7], tonumber(ARGV[4]))
return 1

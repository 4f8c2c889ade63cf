--[[
  Replaces a job definition's JSON while it exists and is still the version the writer read.
  KEYS[1] definition hash
  ARGV[1] the JSON the writer read, ARGV[2] the new JSON
  Returns 'ok', 'gone', or 'stale' (another writer came first).
]]
local current = redis.call('HGET', KEYS[1], 'doc')
if not current then return 'gone' end
if current ~= ARGV[1] then return 'stale' end
redis.call('HSET', KEYS[1], 'doc', ARGV[2])
return 'ok'

--[[
  Deletes a job definition, its index entry and its schedules' links (the schedules themselves are
  removed by the caller first).
  KEYS[1] definition hash, KEYS[2] definitions index, KEYS[3] the definition's schedule set,
  KEYS[4] schedule id -> definition id hash
  ARGV[1] id
  Returns 1 when deleted, 0 when it was gone.
]]
redis.call('ZREM', KEYS[2], ARGV[1])
local existed = redis.call('DEL', KEYS[1])
local schedules = redis.call('SMEMBERS', KEYS[3])
for _, id in ipairs(schedules) do redis.call('HDEL', KEYS[4], id) end
redis.call('DEL', KEYS[3])
return existed

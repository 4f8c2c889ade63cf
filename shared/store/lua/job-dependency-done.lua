--[[
  A job that a pending dependent waits for completed: removes it from the dependent's
  `waiting_for` (a JSON array on the dependent's record). Touches the dependent's record only.
  KEYS[1] the dependent's record
  ARGV[1] the completed job's id, ARGV[2] TTL s (refreshed)
  Returns 2 when it was the last one waited for (only one call can: the caller enqueues the
  dependent), 1 when others remain, -1 when it was not waited for (already counted), 0 when the
  record is gone, or the record's status when it is no longer pending.
]]
local cur = redis.call('HMGET', KEYS[1], 'status', 'waiting_for')
if not cur[1] then return 0 end
if cur[1] ~= 'pending' then return cur[1] end
if not cur[2] or cur[2] == '' then return -1 end
local rest, found = {}, false
for _, id in ipairs(cjson.decode(cur[2])) do
  if id == ARGV[1] then found = true else rest[#rest + 1] = id end
end
if not found then return -1 end
if #rest == 0 then
  redis.call('HDEL', KEYS[1], 'waiting_for')
else
  redis.call('HSET', KEYS[1], 'waiting_for', cjson.encode(rest))
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
if #rest == 0 then return 2 end
return 1

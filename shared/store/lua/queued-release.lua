--[[
  Stops counting jobs against their pool's MAX_QUEUED_BYTES: a worker started them, or the API's
  sweep removed them from the queue after their record expired.
  KEYS[1] queued (sorted set), KEYS[2] sizes (hash), KEYS[3] total (string)
  ARGV[1..] job ids
  Returns the bytes released.
]]
local released = 0
for _, id in ipairs(ARGV) do
  local size = redis.call('HGET', KEYS[2], id)
  if size then
    released = released + tonumber(size)
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[1], id)
end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
elseif released > 0 then
  local total = tonumber(redis.call('GET', KEYS[3]) or '0') - released
  if total < 0 then total = 0 end
  redis.call('SET', KEYS[3], total)
end
return released

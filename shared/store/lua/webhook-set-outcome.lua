--[[
  Writes a webhook outcome on its job record while the outcome is still pending: a delivered or
  failed outcome is final (a late write from a worker that lost the delivery changes nothing).
  KEYS[1] job hash
  ARGV[1] TTL s, ARGV[2..] field, value pairs
  Returns 1 when written, 0 when the record is gone, -1 when the outcome had already ended.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local status = redis.call('HGET', KEYS[1], 'webhook_status')
if status and status ~= 'pending' then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1

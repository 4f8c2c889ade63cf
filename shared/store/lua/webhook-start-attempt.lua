--[[
  Counts a webhook attempt on its job record before the request is sent, so an attempt cut short
  by a crash is counted too.
  KEYS[1] job hash
  ARGV[1] TTL s
  Returns the attempt's number (1-based), 0 when the record is gone, -1 when the webhook outcome
  already ended (delivered or failed: nothing more is sent).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local status = redis.call('HGET', KEYS[1], 'webhook_status')
if status and status ~= 'pending' then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'webhook_attempts', 1)
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n

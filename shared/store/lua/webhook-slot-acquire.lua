--[[
  Takes one of a webhook receiver's delivery slots (a counting semaphore shared by every worker
  process): expired leases are dropped first, so a slot held by a killed worker frees itself.
  KEYS[1] sorted set of the receiver's holders, scored by lease end (ms, Redis server time)
  ARGV[1] slots per receiver, ARGV[2] lease ms, ARGV[3] holder id
  Returns 1 when the slot is taken (or already held by this holder), 0 when every slot is taken.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return 1

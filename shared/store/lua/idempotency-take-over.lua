--[[
  Claims an Idempotency-Key for a new request in place of a stale claim: one that still holds
  `expected` and was made at least ARGV[3] ms ago (its age read from its TTL), whose job was never
  created (the caller checked that its record does not exist).
  KEYS[1] the key
  ARGV[1] the stale claim's value, ARGV[2] the new claim's value, ARGV[3] least age ms,
  ARGV[4] a claim's TTL s
  Returns 1 when claimed, 0 when the key holds something else or the claim is younger.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl_ms = tonumber(ARGV[4]) * 1000
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and ttl_ms - left < tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
return 1

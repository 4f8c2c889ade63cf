--[[
  Updates a hash while it exists, ended or not (a job's webhook outcome, an attempt's end).
  KEYS[1] hash
  ARGV[1] TTL s, ARGV[2..] field, value pairs
  Returns 1 when updated, 0 when the hash is gone.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1

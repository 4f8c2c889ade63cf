--[[
  Counts a job's payload against its pool's MAX_QUEUED_BYTES (docs/security.md#limits-and-hostile-input). Entries
  whose record expired more than ARGV[2] ms ago are dropped first (the API's sweep removes their
  queued jobs before that), so the total never counts a job for longer than its record lives.
  KEYS[1] queued (sorted set: job id → record expiry ms), KEYS[2] sizes (hash: job id → bytes),
  KEYS[3] total (string)
  ARGV[1] now ms, ARGV[2] grace ms, ARGV[3] max bytes (0: no bound), ARGV[4] job id, ARGV[5] bytes,
  ARGV[6] record expiry ms
  Returns {1, total} when counted, {0, total} when the job would pass the bound (nothing written).
]]
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]), 'LIMIT', 0, 1000)
for _, id in ipairs(stale) do
  total = total - tonumber(redis.call('HGET', KEYS[2], id) or '0')
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
if total < 0 then total = 0 end
local max, bytes = tonumber(ARGV[3]), tonumber(ARGV[5])
if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then
  total = total - tonumber(redis.call('HGET', KEYS[2], ARGV[4]))
end
if max > 0 and total + bytes > max then
  if #stale > 0 then redis.call('SET', KEYS[3], total) end
  return {0, total}
end
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[4], bytes)
redis.call('SET', KEYS[3], total + bytes)
return {1, total + bytes}

--[[
  The batch form of queued-reserve.lua (POST /jobs/batch): counts the payloads of the jobs of one
  pool in one shard against its MAX_QUEUED_BYTES part, in order, each as queued-reserve.lua counts
  one (a job that would pass the bound is not counted; the jobs after it still may be).
  KEYS[1] queued (sorted set: job id → record expiry ms), KEYS[2] sizes (hash: job id → bytes),
  KEYS[3] total (string)
  ARGV[1] now ms, ARGV[2] grace ms, ARGV[3] max bytes (0: no bound), ARGV[4] record expiry ms,
  then per job its id and bytes
  Returns per job, in order, 1 or 0 (counted or not) then the total after it.
]]
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]), 'LIMIT', 0, 1000)
for _, id in ipairs(stale) do
  total = total - tonumber(redis.call('HGET', KEYS[2], id) or '0')
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
if total < 0 then total = 0 end
local max, expiry = tonumber(ARGV[3]), ARGV[4]
local out = {}
for i = 5, #ARGV, 2 do
  local id, bytes = ARGV[i], tonumber(ARGV[i + 1])
  local prior = tonumber(redis.call('HGET', KEYS[2], id) or '0')
  if max > 0 and total - prior + bytes > max then
    out[#out + 1] = 0
  else
    total = total - prior + bytes
    redis.call('ZADD', KEYS[1], expiry, id)
    redis.call('HSET', KEYS[2], id, bytes)
    out[#out + 1] = 1
  end
  out[#out + 1] = total
end
redis.call('SET', KEYS[3], total)
return out

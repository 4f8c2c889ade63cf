--[[
  Adds one run to a function's statistics, unless the function is gone (a deleted function's runs
  in flight leave nothing behind).
  KEYS[1] record, KEYS[2] stats, KEYS[3] durations
  ARGV[1] ok 1|0, ARGV[2] duration ms, ARGV[3] cpu ms or '', ARGV[4] peak bytes or '',
  ARGV[5] samples kept, ARGV[6] ISO time
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('HINCRBY', KEYS[2], ARGV[1] == '1' and 'successful' or 'failed', 1)
redis.call('HINCRBYFLOAT', KEYS[2], 'duration_ms_total', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[2], 'cpu_ms_total', ARGV[3])
  redis.call('HINCRBYFLOAT', KEYS[2], 'cpu_wall_ms_total', ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'cpu_samples', 1)
end
if ARGV[4] ~= '' then
  local peak = tonumber(ARGV[4])
  local max = tonumber(redis.call('HGET', KEYS[2], 'peak_rss_max') or '0')
  if peak > max then redis.call('HSET', KEYS[2], 'peak_rss_max', ARGV[4]) end
  redis.call('HINCRBYFLOAT', KEYS[2], 'peak_rss_total', ARGV[4])
  redis.call('HINCRBY', KEYS[2], 'peak_samples', 1)
end
redis.call('HSET', KEYS[2], 'last_invoked_at', ARGV[6])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
return 1

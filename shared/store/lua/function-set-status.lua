--[[
  Sets a version's status and build log; the record's too when that version is still the current one.
  KEYS[1] record, KEYS[2] version hash
  ARGV[1] version, ARGV[2] status, ARGV[3] build log or '' (with ARGV[4] = 1: leave it as it is)
  Returns 1 when the record changed, 0 otherwise.
]]
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'status', ARGV[2])
  if ARGV[4] ~= '1' then redis.call('HSET', KEYS[2], 'build_log', ARGV[3]) end
end
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
if ARGV[4] ~= '1' then redis.call('HSET', KEYS[1], 'build_log', ARGV[3]) end
return 1

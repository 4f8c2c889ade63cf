--[[
  Starts an attempt: bumps the record's attempt counter, writes the attempt entry as running and
  (when ARGV[4] is 1) marks the record running.
  KEYS[1] record, KEYS[2] attempts hash, KEYS[3..7] status indexes (INDEXED_STATUSES order)
  ARGV[1] TTL s, ARGV[2] channel, ARGV[3] job id, ARGV[4] mark running 1|0, ARGV[5] started_at,
  ARGV[6] attempt JSON without its number
  Returns the attempt number, 0 when the record is gone, or the status it already ended with.
]]
--- @include "job-helpers"
local status, score = live(KEYS[1])
if not status then return score end
local ttl = tonumber(ARGV[1])
local n = new_attempt(KEYS[1], KEYS[2], ARGV[6], ttl)
if ARGV[4] == '1' then
  move_status(status_keys(3), ARGV[3], status, 'running', score, ttl)
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[5])
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' {"job_id":"' .. ARGV[3] .. '","status":"running"}')
end
redis.call('EXPIRE', KEYS[1], ttl)
return n

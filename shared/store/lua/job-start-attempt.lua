--[[
  Starts an attempt: counts it on the record (the next number after the record's `attempts`),
  writes the attempt entry as running (the first on the record, later ones in the attempts hash) and (when ARGV[4] is 1) marks the record running, publishing
  that when someone watches the record.
  With ARGV[7] = 1 it first stops counting the job's payload against its pool's MAX_QUEUED_BYTES
  (queued-release.lua), whatever the record's state.
  KEYS[1] record, KEYS[2] attempts hash, KEYS[3..7] status indexes (INDEXED_STATUSES order),
  KEYS[8..10] the pool's queued, sizes and total keys (read with ARGV[7] = 1 only)
  ARGV[1] TTL s, ARGV[2] channel, ARGV[3] job id, ARGV[4] mark running 1|0, ARGV[5] started_at,
  ARGV[6] attempt JSON without its number, ARGV[7] 1 to release the payload, else 0, ARGV[8] the
  status indexes' TTL s
  Returns the attempt number, 0 when the record is gone, or the status it already ended with.
]]
--- @include "job-helpers"
--- @include "queued-helpers"
if ARGV[7] == '1' then queued_release(KEYS[8], KEYS[9], KEYS[10], ARGV[3]) end
local status, created, attempts, watched = live(KEYS[1])
-- Not live: live's second value is the answer.
if not status then return created end
local ttl = tonumber(ARGV[1])
local n = attempts + 1
local n_str = tostring(n)
local fields = { 'attempts', n_str }
write_attempt(fields, KEYS[2], n, n_str, numbered(ARGV[6], n_str), ARGV[1])
if ARGV[4] == '1' then
  move_status(status_keys(3), ARGV[3], status, 'running', created, ttl, ARGV[8])
  fields[#fields + 1] = 'status'
  fields[#fields + 1] = 'running'
  fields[#fields + 1] = 'started_at'
  fields[#fields + 1] = ARGV[5]
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[4] == '1' and watched then redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' {"job_id":"' .. ARGV[3] .. '","status":"running"}') end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n

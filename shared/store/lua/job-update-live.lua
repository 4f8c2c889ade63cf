--[[
  Updates a live job record: only while it exists (an expired or removed job is not brought back
  as a fragment) and has not ended (a job cancelled or finished elsewhere keeps its end), refreshes
  the TTL, moves it between status indexes, optionally writes one attempt entry, and publishes.
  When updated, also adds 1 to each counter named (the deployment's run counters: a run is
  counted exactly when its end lands on the record).
  KEYS[1] record, KEYS[2] attempts hash, KEYS[3..7] status indexes (INDEXED_STATUSES order),
  KEYS[8] run counters hash
  ARGV[1] TTL s, ARGV[2] channel or '', ARGV[3] message, ARGV[4] job id, ARGV[5] new status or '',
  ARGV[6] attempt number, `+` (the next one: an attempt not started on the record, being short)
  or '', ARGV[7] attempt JSON, ARGV[8] C, the number of counters, ARGV[9..8+C] counter fields,
  ARGV[9+C..] field, value pairs
  Returns 1 when updated, 0 when the record is gone, or the status it already ended with.
]]
--- @include "job-helpers"
local status, score = live(KEYS[1])
if not status then return score end
local ttl = tonumber(ARGV[1])
if ARGV[5] ~= '' then move_status(status_keys(3), ARGV[4], status, ARGV[5], score, ttl) end
local counters = tonumber(ARGV[8])
if #ARGV >= 9 + counters then redis.call('HSET', KEYS[1], unpack(ARGV, 9 + counters)) end
for i = 9, 8 + counters do redis.call('HINCRBY', KEYS[8], ARGV[i], 1) end
if ARGV[6] == '+' then
  new_attempt(KEYS[1], KEYS[2], ARGV[7], ttl)
elseif ARGV[6] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('EXPIRE', KEYS[1], ttl)
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1

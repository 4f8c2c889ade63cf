--[[
  Updates a live job record: only while it exists (an expired or removed job is not brought back
  as a fragment) and has not ended (a job cancelled or finished elsewhere keeps its end), refreshes
  the TTL, moves it between status indexes, optionally writes one attempt entry (the first on the
  record, later ones in the attempts hash), and publishes
  when someone watches the record (its `watched` field: a waiting /invoke, a live event stream).
  When updated, also adds 1 to each counter named (the deployment's run counters: a run is
  counted exactly when its end lands on the record).
  With ARGV[8] = 1 it first stops counting the job's payload against its pool's MAX_QUEUED_BYTES
  (a worker's run of it: queued-release.lua), whatever the record's state.
  KEYS[1] record, KEYS[2] attempts hash, KEYS[3..7] status indexes (INDEXED_STATUSES order),
  KEYS[8] run counters hash, KEYS[9..11] the pool's queued, sizes and total keys (read with ARGV[8] = 1 only)
  ARGV[1] TTL s, ARGV[2] channel or '', ARGV[3] message ('' with a channel: the caller publishes it,
  told by 10 added to the answer), ARGV[4] job id, ARGV[5] new status or '',
  ARGV[6] attempt number, `+` (the next one: an attempt not started on the record, being short)
  or '', ARGV[7] attempt JSON (with its number; without it when ARGV[6] is `+`), ARGV[8] 1 to
  release the payload, else 0, ARGV[9] the status indexes' TTL s, ARGV[10] C, the number of
  counters, ARGV[11..10+C] counter fields, ARGV[11+C..] field, value pairs
  Returns 1 when updated (2 when jobs wait for this one: job-add-dependent.lua; 10 more when the
  record is watched and ARGV[3] is '', for the caller to publish the event), 0 when the record
  is gone, or the status it already ended with.
]]
--- @include "job-helpers"
--- @include "queued-helpers"
if ARGV[8] == '1' then queued_release(KEYS[9], KEYS[10], KEYS[11], ARGV[4]) end
local status, created, attempts, watched, dependents = live(KEYS[1])
-- Not live: live's second value is the answer.
if not status then return created end
local ttl = tonumber(ARGV[1])
if ARGV[5] ~= '' then move_status(status_keys(3), ARGV[4], status, ARGV[5], created, ttl, ARGV[9]) end
local counters = tonumber(ARGV[10])
local fields = { unpack(ARGV, 11 + counters) }
if ARGV[6] == '+' then
  local n = attempts + 1
  local n_str = tostring(n)
  write_attempt(fields, KEYS[2], n, n_str, numbered(ARGV[7], n_str), ARGV[1])
  fields[#fields + 1] = 'attempts'
  fields[#fields + 1] = n_str
elseif ARGV[6] ~= '' then
  write_attempt(fields, KEYS[2], tonumber(ARGV[6]), ARGV[6], ARGV[7], ARGV[1])
end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
for i = 11, 10 + counters do redis.call('HINCRBY', KEYS[8], ARGV[i], '1') end
redis.call('EXPIRE', KEYS[1], ARGV[1])
local late = 0
if watched and ARGV[2] ~= '' then
  if ARGV[3] == '' then late = 10 else redis.call('PUBLISH', ARGV[2], ARGV[3]) end
end
if dependents then return 2 + late end
return 1 + late

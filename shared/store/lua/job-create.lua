--[[
  Writes a new job record (unless one exists: a schedule's run re-run after a stall keeps its
  record), its TTL, and its index entries (score = created ms).
  The indexes' TTL is refreshed when one of them is new, or when the caller asks (ARGV[5] = 1):
  JobStore asks once per time window for each index it has not refreshed in that window itself
  (job-store.ts, INDEX_REFRESH_MS). One EXISTS tells both whether the record exists and how many
  of the indexes do (the record is named once more than there are indexes). An index that exists
  has a TTL (every script that creates one gives it one).
  With ARGV[4] = 1 or 2, it first counts the job's payload against its pool's MAX_QUEUED_BYTES
  (queued-reserve.lua), in the same script, and writes nothing of the job when that is refused.
  With 2, BullMQ's add of the job was sent right behind this script (shared/jobs/submit.ts), whose
  caller expects the count to be accepted: it is counted before the total is read
  (queued_reserve_expecting_room), and a refusal leaves a placeholder hash at the BullMQ job's key (expiring in 60 s), so that the add
  finds the job id taken and queues nothing (BullMQ adds nothing under an existing job id: its
  add scripts answer "duplicated"); when that key exists already, the add ran first and the
  caller removes the job.
  KEYS[1] record, KEYS[2] the pending status index, KEYS[3..] the other index keys; with
  ARGV[4] = 1, the last three KEYS are the pool's queued, sizes and total keys (of the record's
  shard); with 2, those three and then the BullMQ job's key
  ARGV[1] TTL s, ARGV[2] created ms, ARGV[3] job id, ARGV[4] 1 or 2 to count the payload, else 0,
  ARGV[5] 1 to refresh the indexes' TTL, else 0; with ARGV[4] = 1 or 2: ARGV[6] now ms, ARGV[7] grace
  ms, ARGV[8] max bytes (0: no bound), ARGV[9] bytes, ARGV[10] record expiry ms; then field, value
  pairs
  Returns 1 when written, {1, total} when written with its payload counted, 0 when the record
  existed, {0, total} when the payload was refused (total: the pool's queued bytes in the shard).
]]
--- @include "job-helpers"
--- @include "queued-helpers"
local last_index, first_field = #KEYS, 6
local q = #KEYS - 2
if ARGV[4] == '1' then last_index, first_field = #KEYS - 3, 11 end
if ARGV[4] == '2' then last_index, first_field, q = #KEYS - 4, 11, #KEYS - 3 end
local indexes = last_index - 1
local args = {}
for i = 1, indexes + 1 do args[i] = KEYS[1] end
for i = 2, last_index do args[#args + 1] = KEYS[i] end
local existing = redis.call('EXISTS', unpack(args))
if existing > indexes then return 0 end
local ttl = tonumber(ARGV[1])
local score = tonumber(ARGV[2])
local counted = nil
if ARGV[4] ~= '0' then
  local reserve = queued_reserve
  if ARGV[4] == '2' then reserve = queued_reserve_expecting_room end
  local ok, total = reserve(KEYS[q], KEYS[q + 1], KEYS[q + 2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[3], ARGV[9], ARGV[10], maintain(ARGV[3]))
  if ok == 0 then
    if ARGV[4] == '2' and redis.call('EXISTS', KEYS[#KEYS]) == 0 then
      redis.call('HSET', KEYS[#KEYS], 'fnqueue_refused', '1')
      redis.call('PEXPIRE', KEYS[#KEYS], 60000)
    end
    return {0, total}
  end
  counted = total
end
-- Numbers reach redis.call as the strings of ARGV (job-helpers.lua move_status: Redis formats a Lua number with snprintf).
redis.call('HSET', KEYS[1], unpack(ARGV, first_field))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local prune = maintain(ARGV[3])
local cutoff = score - ttl * 1000
for i = 2, last_index do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  if prune then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff) end
end
if ARGV[5] == '1' or existing < indexes then
  for i = 2, last_index do redis.call('EXPIRE', KEYS[i], ttl + 3600) end
end
if counted then return {1, counted} end
return 1

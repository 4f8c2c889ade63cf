--[[
  Registers a dependent job on a job it waits for (docs/api.md#job-dependencies), unless that job
  has ended or is gone. The ending job's path reads this set after its end is written, so each
  dependent is either in the set by then or learns the end from this script's answer. Touches one
  job's keys only (its record and its dependents set). The record is marked `has_dependents`, so
  its end's script tells the ending job's path to read the set (job-update-live.lua returns 2).
  KEYS[1] record, KEYS[2] its dependents set
  ARGV[1] the dependent's job id, ARGV[2] RESULT_TTL_SECONDS (the set outlives the record's TTL by it)
  Returns 1 when registered, 0 when the record is gone, or the status it already ended with.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return status end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'has_dependents', '1')
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then ttl = 0 end
redis.call('EXPIRE', KEYS[2], ttl + tonumber(ARGV[2]))
return 1

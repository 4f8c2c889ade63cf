--[[
  Writes a new job record (unless one exists: a schedule's run re-run after a stall keeps its
  record), its TTL, and its index entries (score = created ms).
  KEYS[1] record, KEYS[2] the pending status index, KEYS[3..] the other index keys
  ARGV[1] TTL s, ARGV[2] created ms, ARGV[3] job id, ARGV[4..] field, value pairs
  Returns 1 when written, 0 when the record existed.
]]
--- @include "job-helpers"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
local score = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ttl)
local prune = maintain(ARGV[3])
local cutoff = score - ttl * 1000
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], score, ARGV[3])
  if prune then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff) end
  redis.call('EXPIRE', KEYS[i], ttl + 3600)
end
move_status({ pending = KEYS[2] }, ARGV[3], nil, 'pending', score, ttl)
return 1

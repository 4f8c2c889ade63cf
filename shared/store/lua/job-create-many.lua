--[[
  The batch form of job-create.lua (POST /jobs/batch): writes the new job records of one shard in
  one call, each exactly as job-create.lua writes one (unless it exists: then it is left alone),
  its TTL and its index entries (score = created ms).
  KEYS per job, in order: its record, its pending status index, then its other index keys
  ARGV per job, in order: its number of KEYS, its number of field/value ARGV, TTL s, created ms,
  job id, then its field, value pairs
  Returns per job, in order, 1 when written, 0 when the record existed.
]]
--- @include "job-helpers"
local out = {}
local k, a = 1, 1
while a <= #ARGV do
  local nkeys, nfields = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local ttl, score, id = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4]
  local rec = KEYS[k]
  if redis.call('EXISTS', rec) == 1 then
    out[#out + 1] = 0
  else
    redis.call('HSET', rec, unpack(ARGV, a + 5, a + 4 + nfields))
    redis.call('EXPIRE', rec, ttl)
    local prune = maintain(id)
    local cutoff = score - ttl * 1000
    for i = k + 2, k + nkeys - 1 do
      redis.call('ZADD', KEYS[i], score, id)
      if prune then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff) end
      redis.call('EXPIRE', KEYS[i], ttl + 3600)
    end
    move_status({ pending = KEYS[k + 1] }, id, nil, 'pending', score, ttl)
    out[#out + 1] = 1
  end
  k = k + nkeys
  a = a + 5 + nfields
end
return out

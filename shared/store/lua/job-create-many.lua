--[[
  The batch form of job-create.lua (POST /jobs/batch): writes the new job records of one shard in
  one call, each as job-create.lua writes one (unless it exists: then it is left alone and not
  counted), with its TTL and its index entries (score = created ms). With MAX_QUEUED_BYTES, each
  job's payload is first counted against its pool's part in this shard, in order, as
  queued-reserve.lua counts one: a job that would pass the bound is not written (the jobs after it
  still may be). Each index key gets the entries of the call's jobs in one ZADD (per 500 jobs),
  and is pruned (when a job of the call is one of the one in eight that prune, job-helpers.lua
  maintain) and given its TTL once per call, with the longest TTL of the call's jobs that use it.
  KEYS[1] the pending status index, then per counted pool its queued, sizes and total keys, then
  the other index keys (each once), then per job its record key
  ARGV[1] P, the number of pools counted (0: none), ARGV[2] D, the number of other index keys,
  ARGV[3] created ms, ARGV[4] now ms, ARGV[5] grace ms, ARGV[6] max bytes (0: no bound),
  ARGV[7] the records' expiry ms (for the count), ARGV[8] the jobs as one JSON array (one argument
  rather than some 25 per job: a client builds and writes a long argument list piece by piece),
  per job an array of: its id, TTL s (a string: Redis would format a Lua number with snprintf),
  pool position (1..P; 0 when P is 0), payload bytes, the array of its other indexes' positions
  (1..D), the array of its field, value pairs (strings)
  Returns per job, in order, two numbers: 1 when written, 0 when the record existed, -1 when its
  payload was refused; then, for a refused one, its pool part's total (else 0).
]]
--- @include "job-helpers"
--- @include "queued-helpers"
-- Score, member arguments per ZADD of the index entries (Lua's unpack takes a few thousand).
local ZADD_ARGS = 1000
local pools, nindexes = tonumber(ARGV[1]), tonumber(ARGV[2])
local score, now, grace, max, expiry = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local first_index = 2 + 3 * pools
local first_record = first_index + nindexes
-- Per pool: its total (read once, with a bound), the bytes to add, whether its stale entries were dropped.
local totals, adds, swept = {}, {}, {}
for p = 1, pools do
  if max > 0 then totals[p] = tonumber(redis.call('GET', KEYS[3 * p + 1]) or '0') end
  adds[p] = 0
end
-- Per index position (0: pending): its new entries (score, id pairs), the longest TTL of the call,
-- and whether it is pruned.
local members, ttls, prune = {}, {}, {}
local out = {}
local jobs = cjson.decode(ARGV[8])
for j = 1, #jobs do
  local job = jobs[j]
  local id, ttl_s, pool, bytes, positions, fields = job[1], job[2], job[3], job[4], job[5], job[6]
  local ttl = tonumber(ttl_s)
  local n = #positions
  local rec = KEYS[first_record + j - 1]
  if redis.call('EXISTS', rec) == 1 then
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local ok, after = 1, 0
    if pool > 0 then
      local q = 3 * pool - 1
      -- The pool's stale entries are dropped once per call, before its first job is counted.
      local add
      ok, add, after = queued_count(KEYS[q], KEYS[q + 1], KEYS[q + 2], totals[pool], now, grace, max, id, bytes, expiry, not swept[pool], false)
      swept[pool] = true
      if totals[pool] then totals[pool] = after end
      if ok == 1 then
        adds[pool] = adds[pool] + add
        after = 0
      end
    end
    if ok == 1 then
      redis.call('HSET', rec, unpack(fields))
      redis.call('EXPIRE', rec, ttl_s)
      local maintained = maintain(id)
      for i = 0, n do
        local pos = i == 0 and 0 or positions[i]
        local m = members[pos]
        if not m then
          m = {}
          members[pos] = m
        end
        m[#m + 1] = ARGV[3]
        m[#m + 1] = id
        if not ttls[pos] or ttl > ttls[pos] then ttls[pos] = ttl end
        if maintained then prune[pos] = true end
      end
      out[#out + 1] = 1
    else
      out[#out + 1] = -1
    end
    out[#out + 1] = after
  end
end
for p = 1, pools do
  if adds[p] ~= 0 then redis.call('INCRBY', KEYS[3 * p + 1], adds[p]) end
end
for pos, ttl in pairs(ttls) do
  local key = pos == 0 and KEYS[1] or KEYS[first_index + pos - 1]
  local m = members[pos]
  for i = 1, #m, ZADD_ARGS do redis.call('ZADD', key, unpack(m, i, math.min(i + ZADD_ARGS - 1, #m))) end
  if prune[pos] then redis.call('ZREMRANGEBYSCORE', key, '-inf', score - ttl * 1000) end
  redis.call('EXPIRE', key, ttl + 3600)
end
return out

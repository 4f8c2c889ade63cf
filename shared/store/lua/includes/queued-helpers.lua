-- Helpers of MAX_QUEUED_BYTES accounting (shared/store/queued-bytes-store.ts), used by its own
-- scripts and by the job scripts that count or release a job's payload as they write its record.
-- Keys of one pool in one shard: queued (sorted set: job id -> record expiry ms), sizes (hash: job
-- id -> bytes), total (string: the sum of sizes).

-- Drops the entries whose record expired more than `grace` ms before `now` (at most 1000).
-- Returns the total after the drop.
local function queued_sweep(queued, sizes, total_key, total, now, grace)
  local stale = redis.call('ZRANGEBYSCORE', queued, '-inf', now - grace, 'LIMIT', 0, 1000)
  for _, id in ipairs(stale) do
    total = total - tonumber(redis.call('HGET', sizes, id) or '0')
    redis.call('HDEL', sizes, id)
    redis.call('ZREM', queued, id)
  end
  if total < 0 then total = 0 end
  if #stale > 0 then redis.call('SET', total_key, total) end
  return total
end

-- Counts `bytes` of job `id` (its record expires at `expiry` ms) unless the total would pass `max`
-- (0: no bound). Stale entries are dropped before a refusal, and on about one call in eight
-- (`sweep`), so a refusal always counts only live records. Returns 1 or 0 (refused), and the total.
local function queued_reserve(queued, sizes, total_key, now, grace, max, id, bytes, expiry, sweep)
  local total = tonumber(redis.call('GET', total_key) or '0')
  if sweep then total = queued_sweep(queued, sizes, total_key, total, now, grace) end
  local prior = redis.call('HGET', sizes, id)
  if prior then total = total - tonumber(prior) end
  if max > 0 and total + bytes > max and not sweep then
    total = queued_sweep(queued, sizes, total_key, total + tonumber(prior or '0'), now, grace)
    prior = redis.call('HGET', sizes, id)
    if prior then total = total - tonumber(prior) end
  end
  if max > 0 and total + bytes > max then return 0, total end
  redis.call('ZADD', queued, expiry, id)
  redis.call('HSET', sizes, id, bytes)
  redis.call('SET', total_key, total + bytes)
  return 1, total + bytes
end

-- Stops counting job `id` (idempotent: one HGET when it is not counted). Returns the bytes released.
local function queued_release(queued, sizes, total_key, id)
  local size = redis.call('HGET', sizes, id)
  if not size then return 0 end
  redis.call('HDEL', sizes, id)
  redis.call('ZREM', queued, id)
  local left = redis.call('DECRBY', total_key, tonumber(size))
  if left <= 0 then
    if redis.call('ZCARD', queued) == 0 then redis.call('DEL', sizes, total_key) else redis.call('SET', total_key, 0) end
  end
  return tonumber(size)
end

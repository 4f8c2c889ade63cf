-- Helpers of MAX_QUEUED_BYTES accounting (shared/store/queued-bytes-store.ts), used by its own
-- scripts and by the job scripts that count or release a job's payload as they write its record.
-- Keys of one pool in one shard: queued (sorted set of job ids), sizes (hash: job id -> bytes, for
-- the entries of the long form only), total (string: the sum of the entries' bytes).
-- An entry's score holds its record's expiry and its bytes, in one of two forms:
--   short: floor(expiry ms / 1000) * 2^21 + bytes (bytes < 2^21 = 2 MiB; exact in a double until
--          2106), at or above 2^50; the sizes hash holds nothing of it;
--   long:  expiry ms (below 2^50), its bytes in the sizes hash: a payload of 2 MiB or more, and
--          every entry an older build wrote.
local QUEUED_SHORT = 2097152
local QUEUED_SHORT_MIN = 1125899906842624
-- As a command argument (Lua would write the number with 14 digits).
local QUEUED_SHORT_MIN_ARG = '1125899906842624'

-- The score of an entry of `bytes` whose record expires at `expiry` ms, as ZADD takes it; nil for the long form.
local function queued_score(expiry, bytes)
  if bytes >= QUEUED_SHORT then return nil end
  return string.format('%.0f', math.floor(tonumber(expiry) / 1000) * QUEUED_SHORT + bytes)
end

-- The bytes of entry `id` of score `score` (a number); a long one's size is dropped from the sizes hash.
local function queued_bytes_of(sizes, id, score)
  if score >= QUEUED_SHORT_MIN then return score % QUEUED_SHORT end
  local size = redis.call('HGET', sizes, id)
  if size then redis.call('HDEL', sizes, id) end
  return tonumber(size or '0')
end

-- Drops the entries whose record expired more than `grace` ms before `now` (at most 1000 of each
-- form; a short entry's expiry counts to the second, rounded down). Returns the total after the drop.
local function queued_sweep(queued, sizes, total_key, total, now, grace)
  local dropped = 0
  local short = redis.call('ZRANGEBYSCORE', queued, QUEUED_SHORT_MIN_ARG, '(' .. string.format('%.0f', math.ceil((now - grace) / 1000) * QUEUED_SHORT), 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #short, 2 do
    total = total - tonumber(short[i + 1]) % QUEUED_SHORT
    redis.call('ZREM', queued, short[i])
    dropped = dropped + 1
  end
  local long = redis.call('ZRANGEBYSCORE', queued, '-inf', now - grace, 'LIMIT', 0, 1000)
  for _, id in ipairs(long) do
    total = total - queued_bytes_of(sizes, id, 0)
    redis.call('ZREM', queued, id)
    dropped = dropped + 1
  end
  if total < 0 then total = 0 end
  if dropped > 0 then redis.call('SET', total_key, total) end
  return total
end

-- The bytes job `id` is counted with (0: not counted), read without changing anything.
local function queued_prior(queued, sizes, id)
  local score = redis.call('ZSCORE', queued, id)
  if not score then return 0 end
  score = tonumber(score)
  if score >= QUEUED_SHORT_MIN then return score % QUEUED_SHORT end
  return tonumber(redis.call('HGET', sizes, id) or '0')
end

-- Writes entry `id` (short form, or long: score expiry ms and its size in the sizes hash).
local function queued_write(queued, sizes, id, bytes, expiry)
  local score = queued_score(expiry, bytes)
  if score then
    redis.call('ZADD', queued, score, id)
  else
    redis.call('ZADD', queued, expiry, id)
    redis.call('HSET', sizes, id, bytes)
  end
end

-- Counts `bytes` of job `id` (its record expires at `expiry` ms) unless the total would pass `max`
-- (0: no bound), given the total read before (`total`: nil without a bound; then it is not read at
-- all). The usual case costs one ZADD NX; the caller adds the bytes to the total (INCRBY).
-- With `sweep_first`, stale entries are dropped first; else, with `may_sweep`, before a refusal:
-- so a refusal always counts only live records. Returns 1 or 0 (refused), the bytes to add to the
-- total, and the total after it (on a refusal: the total; nil when the total was never read).
local function queued_count(queued, sizes, total_key, total, now, grace, max, id, bytes, expiry, sweep_first, may_sweep)
  if sweep_first then total = queued_sweep(queued, sizes, total_key, total or tonumber(redis.call('GET', total_key) or '0'), now, grace) end
  if max > 0 and total + bytes > max then
    if may_sweep and not sweep_first then total = queued_sweep(queued, sizes, total_key, total, now, grace) end
    if total - queued_prior(queued, sizes, id) + bytes > max then return 0, 0, total end
  end
  local score = queued_score(expiry, bytes)
  if score and redis.call('ZADD', queued, 'NX', score, id) == 1 then
    return 1, bytes, total and total + bytes
  end
  -- Counted before, or a payload of the long form: (re)write its entry.
  local old = redis.call('ZSCORE', queued, id)
  local prior = 0
  if old then prior = queued_bytes_of(sizes, id, tonumber(old)) end
  queued_write(queued, sizes, id, bytes, expiry)
  return 1, bytes - prior, total and total + bytes - prior
end

-- Counts `bytes` (a string, as ARGV gives it) of job `id` (its record expires at `expiry` ms) unless
-- the total would pass `max` (0: no bound). Stale entries are dropped before a refusal, and on about
-- one call in eight (`sweep`), so a refusal always counts only live records. Returns 1 or 0
-- (refused), and the total. Commands: ZADD NX and INCRBY (and a GET before them with a bound); a
-- first count adds `bytes` as given (a Lua number would be formatted with snprintf by Redis).
local function queued_reserve(queued, sizes, total_key, now, grace, max, id, bytes, expiry, sweep)
  local total = nil
  local n = tonumber(bytes)
  if max > 0 then total = tonumber(redis.call('GET', total_key) or '0') end
  local ok, add, after = queued_count(queued, sizes, total_key, total, now, grace, max, id, n, expiry, sweep, true)
  if ok == 0 then return 0, after end
  return 1, redis.call('INCRBY', total_key, add == n and bytes or add)
end

-- queued_reserve for a count the caller expects to be accepted (sent ahead of its job's add, see
-- job-create.lua): a new short entry is counted first, ZADD NX and INCRBY without the GET of the
-- total, and taken back past the bound, where queued_reserve decides (with its sweep). A sweep due
-- on this call, a long entry or one counted before take queued_reserve's path at once.
local function queued_reserve_expecting_room(queued, sizes, total_key, now, grace, max, id, bytes, expiry, sweep)
  local score = queued_score(expiry, tonumber(bytes))
  if sweep or not score or redis.call('ZADD', queued, 'NX', score, id) == 0 then
    return queued_reserve(queued, sizes, total_key, now, grace, max, id, bytes, expiry, sweep)
  end
  local total = redis.call('INCRBY', total_key, bytes)
  if max <= 0 or total <= max then return 1, total end
  redis.call('ZREM', queued, id)
  if redis.call('DECRBY', total_key, bytes) <= 0 and redis.call('ZCARD', queued) == 0 then redis.call('DEL', total_key) end
  return queued_reserve(queued, sizes, total_key, now, grace, max, id, bytes, expiry, sweep)
end

-- Stops counting job `id` (idempotent: one ZSCORE when it is not counted). Returns the bytes released.
-- Commands: ZSCORE, ZREM, DECRBY (and HGET, HDEL for a long entry).
local function queued_release(queued, sizes, total_key, id)
  local score = redis.call('ZSCORE', queued, id)
  if not score then return 0 end
  local size = queued_bytes_of(sizes, id, tonumber(score))
  redis.call('ZREM', queued, id)
  local left = redis.call('DECRBY', total_key, size)
  if left <= 0 then
    if redis.call('ZCARD', queued) == 0 then redis.call('DEL', sizes, total_key) else redis.call('SET', total_key, 0) end
  end
  return size
end

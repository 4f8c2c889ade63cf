-- Helpers of the job record scripts. Status indexes arrive in KEYS (in the order of
-- INDEXED_STATUSES, shared/store/keys.ts); status_keys() maps each status to its key.
local STATUSES = { 'pending', 'running', 'completed', 'failed', 'cancelled' }
-- status -> index key, from KEYS[first .. first + 4].
local function status_keys(first)
  local t = {}
  for i, s in ipairs(STATUSES) do t[s] = KEYS[first + i - 1] end
  return t
end
-- About one write in eight prunes an index (ids ending in 0 or 8): every index stays bounded at a fraction of the cost.
local function maintain(id)
  return string.byte(id, -1) % 8 == 0
end
-- Moves a record's id from the old status index to the new one and refreshes the target's TTL.
-- `created` is the record's created ms as stored (a string: the entry's score), `index_ttl` the
-- index's TTL in s (a string, from ARGV): Redis turns a Lua number argument into a string with
-- snprintf("%.14g"), about a tenth of a short script's instructions (callgrind), so values that
-- arrive as strings are passed on as they are. A prune drops the entries created more than the
-- record's TTL (`ttl`, s, a number) before the job's created ms (no TIME call).
local function move_status(index, id, old, new_status, created, ttl, index_ttl)
  if old and old ~= new_status and index[old] then redis.call('ZREM', index[old], id) end
  if new_status ~= '' then
    local key = index[new_status]
    redis.call('ZADD', key, created, id)
    if maintain(id) then redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(created) - ttl * 1000)) end
    redis.call('EXPIRE', key, index_ttl)
  end
end
local terminal = { completed = true, failed = true, cancelled = true }
-- The record's status, created ms (as stored: a string, passed on as the index entries' score),
-- attempts started, whether someone watches it (`watched`: a waiting /invoke or a live event
-- stream; its events are published only then) and whether jobs wait for it (`has_dependents`);
-- nil, with what the script returns, when it is gone (0) or ended (its status).
local function live(rec)
  local cur = redis.call('HMGET', rec, 'status', 'created_ms', 'attempts', 'watched', 'has_dependents')
  if not cur[1] then return nil, 0 end
  if terminal[cur[1]] then return nil, cur[1] end
  return cur[1], cur[2] or '0', tonumber(cur[3] or '0'), cur[4] == '1', cur[5] == '1'
end
-- Writes attempt `n`'s entry (`entry`: its JSON, number included; `n_str`: `n` as a string): the
-- first one on the record (`first_attempt`, appended to `fields`, the caller's HSET of the record),
-- later ones in the attempts hash, which expires with the record (attempt-store.ts; `ttl`: its TTL
-- s, a string).
local function write_attempt(fields, attempts, n, n_str, entry, ttl)
  if n == 1 then
    fields[#fields + 1] = 'first_attempt'
    fields[#fields + 1] = entry
  else
    redis.call('HSET', attempts, n_str, entry)
    redis.call('EXPIRE', attempts, ttl)
  end
end
-- Attempt `n_str`'s entry from its JSON object without its number: spliced in front, not decoded and
-- encoded again (cjson took about 7 % of a finish's Redis instructions, and would reorder the keys
-- and cut numbers to 14 digits).
local function numbered(json, n_str)
  if json == '{}' then return '{"attempt":' .. n_str .. '}' end
  return '{"attempt":' .. n_str .. ',' .. string.sub(json, 2)
end

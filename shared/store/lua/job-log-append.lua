--[[
  Appends a job's log lines within its bounds (docs/security.md#limits-and-hostile-input): at most ARGV[2] bytes
  (each line's cost: its text's bytes plus a fixed overhead) and ARGV[3] lines per job, all attempts together; the line that would pass a
  bound and the rest are dropped behind one marker line, and the job is marked truncated. When Redis
  has a maxmemory and these lines would take it past ARGV[8] of it, only the memory marker is stored,
  so a job's logs never use up the memory the records and the queues' locks need.
  KEYS[1] log list, KEYS[2] truncated marker, KEYS[3] stored bytes
  ARGV[1] TTL s, ARGV[2] max bytes, ARGV[3] max lines, ARGV[4] '1' when the output was already cut,
  ARGV[5] bytes marker, ARGV[6] lines marker, ARGV[7] memory marker (JobLogLine JSON),
  ARGV[8] fraction of maxmemory logs may fill, ARGV[9..] pairs: cost (bytes), line (JobLogLine JSON)
  Returns the number of lines stored (markers included).
]]
local ttl = ARGV[1]
local max_bytes, max_lines = tonumber(ARGV[2]), tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
local count = redis.call('LLEN', KEYS[1])
local full = used >= max_bytes or count >= max_lines
local cut = ARGV[4] == '1' or (full and #ARGV > 8)
local stored = 0
if not full and #ARGV > 8 then
  local incoming = 0
  for i = 10, #ARGV, 2 do incoming = incoming + #ARGV[i] end
  local info = redis.call('INFO', 'memory')
  local maxmemory = tonumber(string.match(info, 'maxmemory:(%d+)') or '0')
  local memory = tonumber(string.match(info, 'used_memory:(%d+)') or '0')
  local marker = nil
  local batch = {}
  if maxmemory > 0 and memory + 2 * incoming > maxmemory * tonumber(ARGV[8]) then
    marker = ARGV[7]
  else
    for i = 9, #ARGV, 2 do
      local cost, line = tonumber(ARGV[i]), ARGV[i + 1]
      if used + cost > max_bytes then marker = ARGV[5]; break end
      if count >= max_lines then marker = ARGV[6]; break end
      batch[#batch + 1] = line
      used = used + cost
      count = count + 1
      if #batch == 1000 then
        redis.call('RPUSH', KEYS[1], unpack(batch))
        stored = stored + #batch
        batch = {}
      end
    end
  end
  if #batch > 0 then
    redis.call('RPUSH', KEYS[1], unpack(batch))
    stored = stored + #batch
  end
  if marker then
    redis.call('RPUSH', KEYS[1], marker)
    stored = stored + 1
    used = max_bytes
    cut = true
  end
  redis.call('SET', KEYS[3], used, 'EX', ttl)
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ttl) end
if cut then redis.call('SET', KEYS[2], '1', 'EX', ttl) end
return stored

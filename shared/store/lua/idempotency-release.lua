--[[
  Frees an Idempotency-Key only while it holds this request's claim (another request may have
  claimed it since: its claim stays).
  KEYS[1] the key
  ARGV[1] the claim's value (`<job_id> <body sha256>`)
  Returns 1 when freed, 0 when it held something else or nothing.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])

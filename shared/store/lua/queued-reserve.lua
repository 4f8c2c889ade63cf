--[[
  Counts a job's payload against its pool's MAX_QUEUED_BYTES (docs/security.md#limits-and-hostile-input). Entries
  whose record expired more than ARGV[2] ms ago are dropped before a refusal (the API's sweep
  removes their queued jobs before that), so a refusal never counts a job for longer than its record lives.
  KEYS[1] queued (sorted set: job id, scored by its record's expiry and bytes: queued-helpers.lua),
  KEYS[2] sizes (hash: job id → bytes, for long entries), KEYS[3] total (string)
  ARGV[1] now ms, ARGV[2] grace ms, ARGV[3] max bytes (0: no bound), ARGV[4] job id, ARGV[5] bytes,
  ARGV[6] record expiry ms
  Returns {1, total} when counted, {0, total} when the job would pass the bound (nothing written).
]]
--- @include "job-helpers"
--- @include "queued-helpers"
local ok, total = queued_reserve(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], maintain(ARGV[4]))
return {ok, total}

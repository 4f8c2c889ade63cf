--[[
  Stops counting jobs against their pool's MAX_QUEUED_BYTES: the API cancelled them, or its sweep
  removed them from the queue after their record expired. (A worker releases a job in the script
  that starts its attempt or ends its run.) An entry of either form (queued-helpers.lua) is
  released, also one an older build wrote, and one without a size stops counting too.
  KEYS[1] queued (sorted set), KEYS[2] sizes (hash), KEYS[3] total (string)
  ARGV[1..] job ids
  Returns the bytes released.
]]
--- @include "queued-helpers"
local released = 0
for _, id in ipairs(ARGV) do
  released = released + queued_release(KEYS[1], KEYS[2], KEYS[3], id)
end
return released

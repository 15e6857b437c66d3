--[[
  ack-1.lua: drops outbox records up to and including a sequence id.

  KEYS[1]  the partition's base key; the outbox is the LIST <base>:o, whose last
           entry has seq `next` - 1 (<base>:m), so its head is next - LLEN.
  ARGV[1]  the sequence id (decimal)
  Returns  the number of records dropped
]]

--- @include "keys"

local outKey = KEYS[1] .. SUFFIX.outbox
local nextSeq = tonumber(redis.call('HGET', KEYS[1] .. SUFFIX.meta, META_FIELD.next)) or 0
local len = redis.call('LLEN', outKey)
local drop = tonumber(ARGV[1]) - (nextSeq - len) + 1
if drop <= 0 then return 0 end
if drop >= len then
  redis.call('DEL', outKey)
  return len
end
redis.call('LTRIM', outKey, drop, -1)
return drop

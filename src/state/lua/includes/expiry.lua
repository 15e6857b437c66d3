--[[
  expiry.lua: idle identities' keys expire. Wall clock (PEXPIREAT from TIME),
  because expiry only reclaims memory of idle identities; windows are event
  time, so replays give the same views. All keys of an identity share one
  deadline, set on creation and pushed forward when `x` (in _s) is more than
  TTL/4 of event time behind, decided per event so that it does not depend on
  batch boundaries: a distinct set never outlives or predeceases its identity hash.
]]
--- @include "keys"

local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end

-- The deadline of an identity's keys (ms since epoch, or negative: none), once per call.
local deadlines = {}
local function deadlineOf(h, isNew, ttl)
  local dl = deadlines[h]
  if not dl then
    if isNew then dl = clock() + ttl else dl = redis.call('PEXPIRETIME', h) end
    deadlines[h] = dl
  end
  return dl
end

-- Whether an event at ts pushes the deadline, x being the ts of the last push.
local function pushDue(x, ts, ttl)
  return x == nil or ts - x > ttl / 4
end

-- Moves every key of the identity to now + ttl. A distinct set exists only
-- with its |B field: find them all, touched or not.
local function pushDeadline(base, h, idSha, isNew, ttl)
  local dl = clock() + ttl
  redis.call('PEXPIREAT', h, dl)
  if isNew then return end
  local mark = TRACK_FIELD.distinctBucket
  local n = #mark
  for _, fname in ipairs(redis.call('HKEYS', h)) do
    if string.sub(fname, -n) == mark then
      redis.call('PEXPIREAT', distinctKeyOf(base, idSha, string.sub(fname, 1, -n - 1)), dl)
    end
  end
end

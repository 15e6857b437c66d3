--[[
  identity.lua: an identity's hash, <base>:i:<sha1(identity)>, and its fixed
  fields (IDENTITY_FIELD):
    _id   the identity. A hash whose _id is another identity (a sha1 collision,
          or tampering) is refused with WARDEN_KEY_COLLISION before any write.
    _s    struct '<ddd': firstSeen, events, and `x`, the event ts of the last
          expiry push (expiry.lua); src/state/identity-hash.ts reads it
    _b    the breaker snapshot (commit-1.lua)
  Doubles are stored exactly: struct packs their bytes, and redis.call formats
  a Lua number with %.17g, which reads back bit-exact.
]]
--- @include "keys"

local function checkOwner(h, id, owner)
  if owner and owner ~= id then
    error({ err = 'WARDEN_KEY_COLLISION ' .. h .. ' belongs to another identity' })
  end
end

-- The fields a batch reads of an identity, the IDENTITY_FIELDS fixed ones
-- first, and what each holds (fx); sized for a typical identity, so they rarely grow.
local IDENTITY_FIELDS = 3
local function identityFieldList()
  return { IDENTITY_FIELD.id, IDENTITY_FIELD.state, IDENTITY_FIELD.breaker, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil },
    { 0, 0, 0, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil }
end

-- firstSeen, events, x of a stored _s.
local function unpackState(s)
  local f, e, x = struct.unpack('<ddd', s)
  return f, e, x
end

-- HMGET of n fields, in parts that unpack can take.
local function hmgetMany(h, fl, n)
  if n <= 4000 then return redis.call('HMGET', h, unpack(fl, 1, n)) end
  local r = {}
  for j = 1, n, 4000 do
    local part = redis.call('HMGET', h, unpack(fl, j, math.min(j + 3999, n)))
    for q = 1, #part do r[j + q - 1] = part[q] end
  end
  return r
end

-- HSET args: _s (and _id for a hash without one) first; returns args, their count.
local function identityWrite(hasId, id, f, e, x)
  local s = struct.pack('<ddd', f, e, x)
  if hasId then return { IDENTITY_FIELD.state, s, nil, nil, nil, nil, nil, nil }, 2 end
  return { IDENTITY_FIELD.state, s, IDENTITY_FIELD.id, id, nil, nil, nil, nil }, 4
end

local function hsetMany(h, args, n)
  for j = 1, n, 4000 do
    redis.call('HSET', h, unpack(args, j, math.min(j + 3999, n)))
  end
end

-- Fields that changed in this call, to write back: d[position] = the largest
-- mark a track kind gave it (seen.lua, distinct.lua; counters are always written).
local function markDirty(d, sp, v)
  if (d[sp] or 0) < v then d[sp] = v end
end

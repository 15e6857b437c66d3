--[[
  distinct.lua: the distinct members of the current bucket, capped, and the
  previous bucket's count.
  Wire     DISTINCT, keyIndex, windowMs, memberIndex, cap
  Fields   <track>|B  <track>|P  <track>|N   bucket start, previous count,
                                             current count (%.17g)
  Key      <base>:d:<sha1(id)>:<sha1(track)>  SET the current bucket's members,
                                             with its identity's deadline
  View     count*8 + added*4, key, prev, bucketStart, windowMs
]]
--- @include "keys"
--- @include "identity"
--- @include "expiry"

local DISTINCT, DISTINCT_WIRE = 3, 5
local floor = math.floor
-- fx of its fields: the first (|B), the others.
local DISTINCT_FIELDS, DISTINCT_REST = -2, -3

-- Pass 1, the first time a batch names this track for an identity: its three
-- fields go after nf. Returns the first one's position and nf.
local distinctNames = {}
local function distinctPlan(ki, track, fl, fx, nf)
  local nm = distinctNames[ki]
  if not nm then
    nm = { track .. TRACK_FIELD.distinctBucket, track .. TRACK_FIELD.distinctPrev, track .. TRACK_FIELD.distinctCount }
    distinctNames[ki] = nm
  end
  fl[nf + 1], fl[nf + 2], fl[nf + 3] = nm[1], nm[2], nm[3]
  fx[nf + 1], fx[nf + 2], fx[nf + 3] = DISTINCT_FIELDS, DISTINCT_REST, DISTINCT_REST
  return nf + 1, nf + 3
end

local function distinctRead(r, j)
  r[j], r[j + 1], r[j + 2] = tonumber(r[j]), tonumber(r[j + 1]) or 0, tonumber(r[j + 2]) or 0
end

-- An identity's set of a track (sets: that identity's), with the members known in this call.
local function distinctSet(sets, base, idSha, track, h, isNew)
  local s = sets[track]
  if not s then
    s = { key = distinctKeyOf(base, idSha, track), has = {}, h = h, new = isNew }
    sets[track] = s
  end
  return s
end

-- SADD through the cache; true when added. A set created here gets its
-- identity's deadline.
local function addMember(s, member, size, ttl)
  if s.has[member] then return false end
  s.has[member] = true
  if redis.call('SADD', s.key, member) == 0 then return false end
  if size == 0 then
    local dl = deadlineOf(s.h, s.new, ttl)
    if dl > 0 then redis.call('PEXPIREAT', s.key, dl) end
  end
  return true
end

-- Pass 2, one event at ts (u[q] is its wire entry) on the track whose fields
-- are at r[sp..sp + 2] and set s: rolls the bucket, adds the member, appends
-- the view to out after no. Returns the new no.
local function distinctApply(u, q, r, sp, ts, s, ttl, members, tkeys, d, out, no)
  local w, member, cap = u[q + 2], members[u[q + 3]], u[q + 4]
  local idx = floor(ts / w) * w
  local db = r[sp]
  if db == nil or idx > db then
    if db ~= nil and idx - db == w then r[sp + 1] = r[sp + 2] else r[sp + 1] = 0 end
    r[sp] = idx
    markDirty(d, sp, 2)
    if r[sp + 2] > 0 then redis.call('DEL', s.key) end
    r[sp + 2] = 0
    s.has = {}
  end
  local size = r[sp + 2]
  local code
  if size < cap and addMember(s, member, size, ttl) then
    size = size + 1
    r[sp + 2] = size
    markDirty(d, sp, 1)
    code = size * 8 + 4
  else
    code = size * 8
  end
  out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = code, tkeys[u[q + 1]], r[sp + 1], r[sp], w
  return no + 5
end

-- Pass 3, for a dirty track (at fl[j]): 1 writes the count, 2 (rolled) the
-- bucket and previous count too.
local function distinctWrite(args, na, fl, r, j, dv)
  if dv == 2 then
    args[na + 1], args[na + 2], args[na + 3], args[na + 4] = fl[j], r[j], fl[j + 1], r[j + 1]
    na = na + 4
  end
  args[na + 1], args[na + 2] = fl[j + 2], r[j + 2]
  return na + 2
end

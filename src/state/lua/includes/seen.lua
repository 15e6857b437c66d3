--[[
  seen.lua: a learned set of members, capped.
  Wire     SEEN, keyIndex, memberIndex, cap
  Fields   <track>|S                    its size (%.17g)
           <track>|=<member>|<byte length of track>   per member: "1"
  View     size*16 + added*8 + full*4 + 3, key
  The cap bounds an identity's fields. In a call, r holds a member's field as
  "1" when known, false when not, true once added here.
]]
--- @include "keys"
--- @include "identity"

local SEEN, SEEN_WIRE = 2, 4
-- fx of its fields
local SEEN_SIZE, SEEN_MEMBER = 0, -1

-- Pass 1, the first time a batch names this set for an identity: its size
-- field goes after nf. Returns its position and nf.
local seenNames, seenPre, seenSuf, seenMembers = {}, {}, {}, {}
local function seenPlan(ki, track, fl, fx, nf)
  local nm = seenNames[ki]
  if not nm then
    nm = track .. TRACK_FIELD.seenSize
    seenNames[ki], seenPre[ki], seenSuf[ki] = nm, track .. TRACK_FIELD.seenMember, '|' .. #track
  end
  fl[nf + 1], fx[nf + 1] = nm, SEEN_SIZE
  return nf + 1, nf + 1
end

-- Pass 1, the first time a batch names this member of this set for an
-- identity (mk numbers the pair in the batch): its field goes after nf.
-- Returns its position and nf.
local function seenMemberPlan(ki, mk, member, fl, fx, nf)
  local mf = seenMembers[mk]
  if not mf then
    mf = seenPre[ki] .. member .. seenSuf[ki]
    seenMembers[mk] = mf
  end
  fl[nf + 1], fx[nf + 1] = mf, SEEN_MEMBER
  return nf + 1, nf + 1
end

local function seenSizeRead(v)
  return tonumber(v) or 0
end

-- Pass 2: adds the member (size at r[sp], member at r[mp]) unless known or
-- the set is full, and appends the set's view to out after no. Returns the new no.
local function seenApply(r, sp, mp, cap, track, d, out, no)
  local size = r[sp]
  local code = 3
  if not r[mp] then
    if size < cap then
      r[mp] = true
      size = size + 1
      r[sp] = size
      code = 11
      markDirty(d, sp, 1)
      markDirty(d, mp, 1)
    else
      code = 7
    end
  end
  out[no + 1], out[no + 2] = size * 16 + code, track
  return no + 2
end

-- Pass 3, for a dirty field.
local function seenSizeWrite(args, na, name, v)
  args[na + 1], args[na + 2] = name, v
  return na + 2
end

local function seenMemberWrite(args, na, name)
  args[na + 1], args[na + 2] = name, '1'
  return na + 2
end

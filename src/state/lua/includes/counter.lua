--[[
  counter.lua: a bucketed counter with an optional learned baseline
  (baseline.lua). Mirrors src/state/memory-store.ts operation for operation,
  so IEEE results are identical.
  Wire     COUNTER, keyIndex, windowMs, paramIndex (0: no baseline)
  Field    <track>|C  struct '<ddd' b c p (bucket start, count, previous
                      count), 24 bytes; with a baseline, COUNTER_BASELINE:
                      '<dddddddddd' b c p n mean variance hour hn hsum hsq,
                      then 24 '<f' slots, 24 '<f' vars, 24 'B' k (per hour of
                      day, UTC), 80 + 96 + 96 + 24 = 296 bytes. A 56-byte field
                      (the old '<ddddddd' b c p n m v peak) keeps b c p and
                      starts its baseline afresh.
  View     count*4+1, key, windowMs, bucketStart, prev
           count*4+2, key, windowMs, bucketStart, prev, then the baseline's
             8 values (baseline.lua): n, mean, variance, expected, noise,
             expectedHigh, noiseHigh, slotN
  In a call, an identity's counters are unpacked into one array: 4 slots per
  counter from its slot x, b c p and its baseline state (a table, nil without
  a baseline).
]]
--- @include "keys"
--- @include "baseline"

local COUNTER, COUNTER_WIRE = 1, 4
local COUNTER_BASELINE = '<ddd' .. BASELINE_PACK
local floor, spack, sunpack = math.floor, struct.pack, struct.unpack

-- Pass 1, the first time a batch names this counter for an identity: its
-- field goes after nf, its slots after nc. Returns its slot, nf, nc.
local counterNames = {}
local function counterPlan(ki, track, fl, fx, nf, nc)
  local nm = counterNames[ki]
  if not nm then
    nm = track .. TRACK_FIELD.counter
    counterNames[ki] = nm
  end
  fl[nf + 1], fx[nf + 1] = nm, nc + 1
  return nc + 1, nf + 1, nc + 4
end

local function counterRead(cs, x, v, name)
  if not v then return end
  local len = #v
  if len == 24 then
    cs[x], cs[x + 1], cs[x + 2] = sunpack('<ddd', v)
  elseif len == 296 then
    local t = { sunpack(COUNTER_BASELINE, v) }
    cs[x], cs[x + 1], cs[x + 2], cs[x + 3] = t[1], t[2], t[3], { unpack(t, 4, 3 + BASELINE_SIZE) }
  elseif len == 56 then
    cs[x], cs[x + 1], cs[x + 2] = sunpack('<ddd', v)
    cs[x + 3] = newBaseline()
  else
    error({ err = 'WARDEN_INCONSISTENT counter field ' .. name .. ' has ' .. len .. ' bytes, not 24, 56 or 296' })
  end
end

local function counterWrite(args, na, name, cs, x)
  local v
  local b = cs[x + 3]
  if b ~= nil then
    v = spack(COUNTER_BASELINE, cs[x], cs[x + 1], cs[x + 2], unpack(b, 1, BASELINE_SIZE))
  else
    v = spack('<ddd', cs[x], cs[x + 1], cs[x + 2])
  end
  args[na + 1], args[na + 2] = name, v
  return na + 2
end

-- Pass 2, one event at ts (u[q] is its wire entry): counts it in the counter
-- at cs[sp], and appends the counter's view to out after no. Returns the new no.
local function counterApply(u, q, cs, sp, ts, firstSeen, tkeys, params, maxFold, out, no)
  local w, pi = u[q + 2], u[q + 3]
  local idx = floor(ts / w) * w
  local b = cs[sp]
  if b == nil then
    cs[sp], cs[sp + 1], cs[sp + 2] = idx, 0, 0
    if pi > 0 then cs[sp + 3] = newBaseline() end
  elseif idx > b then
    local gap = (idx - b) / w
    local base = cs[sp + 3]
    if base ~= nil and pi > 0 then rollBaseline(base, cs[sp + 1], gap, w, params, pi, b, firstSeen, maxFold) end
    if gap == 1 then cs[sp + 2] = cs[sp + 1] else cs[sp + 2] = 0 end
    cs[sp + 1] = 0
    cs[sp] = idx
  end
  local c = cs[sp + 1] + 1
  cs[sp + 1] = c
  local base = cs[sp + 3]
  if base ~= nil then
    out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = c * 4 + 2, tkeys[u[q + 1]], w, cs[sp], cs[sp + 2]
    return baselineView(base, cs[sp], out, no + 5)
  end
  out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = c * 4 + 1, tkeys[u[q + 1]], w, cs[sp], cs[sp + 2]
  return no + 5
end

--[[
  counter.lua: a bucketed counter with an optional learned baseline
  (baseline.lua). Mirrors src/state/memory-store.ts operation for operation,
  so IEEE results are identical.
  Wire     COUNTER, keyIndex, windowMs, paramIndex (0: no baseline)
  Fields   <track>|C  struct '<ddd' b c p (bucket start, count, previous
                      count), 24 bytes; with a baseline '<dddddddd' b c p n
                      mean variance hour hn, 64 bytes, and its other fields:
           <track>|H  '<dd' hsum hsq, then 24 'B' k (days learned per hour
                      of day, UTC), 40 bytes
           <track>|E  <track>|F  12 '<f' slots each, hours 0-11 and 12-23
           <track>|V  <track>|W  12 '<f' vars each, the same hours
                      Every value is at most 64 bytes (hash-max-listpack-value),
                      so the identity hash keeps its listpack encoding.
                      A 56-byte field (the old '<ddddddd' b c p n m v peak) or
                      a 296-byte one (the unreleased one-field layout) keeps
                      b c p and starts its baseline afresh.
  View     count*4+1, key, windowMs, bucketStart, prev
           count*4+2, key, windowMs, bucketStart, prev, then the baseline's
             10 values (baseline.lua): n, mean, variance, expected, noise,
             expectedHigh, noiseHigh, slotN
  In a call, an identity's counters are unpacked into one array: 4 slots per
  counter from its slot x, b c p and its baseline state (a table, nil without
  a baseline).
]]
--- @include "keys"
--- @include "baseline"

local COUNTER, COUNTER_WIRE = 1, 4
-- fx of a baseline's fields after its <track>|C
local COUNTER_REST = -4
local COUNTER_BASELINE, BASELINE_HOUR = '<dddddddd', '<dd' .. string.rep('B', 24) .. 'ff'
local BASELINE_HOUR_V1 = '<dd' .. string.rep('B', 24)
local BASELINE_HALF = '<' .. string.rep('f', 12)
local BASELINE_REST = 5
local floor, spack, sunpack = math.floor, struct.pack, struct.unpack

-- Pass 1, the first time a batch names this counter for an identity: its
-- field goes after nf, and with a baseline (pi > 0) the baseline's other
-- fields after it; its slots go after nc. Returns its slot, nf, nc.
local counterNames, counterRest = {}, {}
local function counterPlan(ki, track, pi, fl, fx, nf, nc)
  local nm = counterNames[ki]
  if not nm then
    nm = track .. TRACK_FIELD.counter
    counterNames[ki] = nm
    counterRest[nm] = { track .. TRACK_FIELD.baselineHour, track .. TRACK_FIELD.baselineSlotsAm, track .. TRACK_FIELD.baselineSlotsPm,
      track .. TRACK_FIELD.baselineVarsAm, track .. TRACK_FIELD.baselineVarsPm }
  end
  fl[nf + 1], fx[nf + 1] = nm, nc + 1
  if pi == 0 then return nc + 1, nf + 1, nc + 4 end
  local rest = counterRest[nm]
  for j = 1, BASELINE_REST do
    fl[nf + 1 + j], fx[nf + 1 + j] = rest[j], COUNTER_REST
  end
  return nc + 1, nf + 1 + BASELINE_REST, nc + 4
end

local function restField(names, v, j, len, older)
  if not v then error({ err = 'WARDEN_INCONSISTENT baseline field ' .. names[j] .. ' is missing' }) end
  if #v ~= len and #v ~= older then error({ err = 'WARDEN_INCONSISTENT baseline field ' .. names[j] .. ' has ' .. #v .. ' bytes, not ' .. len }) end
  return v
end

-- The baseline of a 64-byte <track>|C (t: its values unpacked) and its other
-- fields, r[j + 1 ..] when planned, else read here (a track that lost its
-- baseline params keeps its baseline, as in the memory store).
local function baselineRead(t, r, j, fx, h, name)
  local names = counterRest[name]
  local rest = r
  local at = j
  if fx[j + 1] ~= COUNTER_REST then
    rest, at = redis.call('HMGET', h, unpack(names, 1, BASELINE_REST)), 0
  end
  local b = { t[4], t[5], t[6], t[7], t[8] }
  local hv = restField(names, rest[at + 1], 1, 48, 40)
  local hr
  if #hv == 48 then hr = { sunpack(BASELINE_HOUR, hv) } else hr = { sunpack(BASELINE_HOUR_V1, hv) } end
  b[6], b[7] = hr[1], hr[2]
  for q = 1, BASELINE_SLOTS do b[BASELINE_K + q - 1] = hr[q + 2] end
  -- A |H written before the day's level (40 bytes) starts it at 0.
  if #hv == 48 then b[BASELINE_LN], b[BASELINE_LD] = hr[27], hr[28] else b[BASELINE_LN], b[BASELINE_LD] = 0, 0 end
  local o = BASELINE_SLOT
  for f = 2, BASELINE_REST do
    local hf = { sunpack(BASELINE_HALF, restField(names, rest[at + f], f, 48, 48)) }
    for q = 1, 12 do b[o + q - 1] = hf[q] end
    o = o + 12
  end
  return b
end

-- The counter whose <track>|C is r[j] (fx[j] = x), into cs[x ..].
local function counterRead(cs, x, r, j, fx, h, name)
  local v = r[j]
  if not v then return end
  local len = #v
  if len == 24 then
    cs[x], cs[x + 1], cs[x + 2] = sunpack('<ddd', v)
  elseif len == 64 then
    local t = { sunpack(COUNTER_BASELINE, v) }
    cs[x], cs[x + 1], cs[x + 2], cs[x + 3] = t[1], t[2], t[3], baselineRead(t, r, j, fx, h, name)
  elseif len == 56 or len == 296 then
    cs[x], cs[x + 1], cs[x + 2] = sunpack('<ddd', v)
    cs[x + 3] = newBaseline()
  else
    error({ err = 'WARDEN_INCONSISTENT counter field ' .. name .. ' has ' .. len .. ' bytes, not 24, 56, 64 or 296' })
  end
end

local function counterWrite(args, na, name, cs, x)
  local b = cs[x + 3]
  if b == nil then
    args[na + 1], args[na + 2] = name, spack('<ddd', cs[x], cs[x + 1], cs[x + 2])
    return na + 2
  end
  local rest = counterRest[name]
  args[na + 1], args[na + 2] = name, spack(COUNTER_BASELINE, cs[x], cs[x + 1], cs[x + 2], unpack(b, 1, 5))
  args[na + 3], args[na + 4] = rest[1], spack(BASELINE_HOUR, b[6], b[7], unpack(b, BASELINE_K, BASELINE_LD))
  args[na + 5], args[na + 6] = rest[2], spack(BASELINE_HALF, unpack(b, BASELINE_SLOT, BASELINE_SLOT + 11))
  args[na + 7], args[na + 8] = rest[3], spack(BASELINE_HALF, unpack(b, BASELINE_SLOT + 12, BASELINE_SLOT + 23))
  args[na + 9], args[na + 10] = rest[4], spack(BASELINE_HALF, unpack(b, BASELINE_VAR, BASELINE_VAR + 11))
  args[na + 11], args[na + 12] = rest[5], spack(BASELINE_HALF, unpack(b, BASELINE_VAR + 12, BASELINE_VAR + 23))
  return na + 12
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

--[[
  counter.lua: a bucketed counter with an optional learned baseline. Mirrors
  src/state/memory-store.ts and src/state/baseline.ts operation for operation,
  so IEEE results are identical.
  Wire     COUNTER, keyIndex, windowMs, paramIndex (0: no baseline)
  Field    <track>|C  struct '<ddd' b c p (bucket start, count, previous count),
                      or '<ddddddd' b c p n m v k with a baseline (n, mean,
                      variance, peak)
  View     count*4+1, key, windowMs, bucketStart, prev
           count*4+2, key, windowMs, bucketStart, prev, n, mean, variance, peak
  In a call, an identity's counters are unpacked into one array: 7 slots per
  counter from its slot x, b c p n m v k (n..k nil without a baseline).
  params holds 7 numbers per baseline: alpha, peakDecay, learningPeriodMs,
  minBuckets, minEvents, multiplier, zScore.
]]
--- @include "keys"

local COUNTER, COUNTER_WIRE = 1, 4
local floor, sqrt, spack, sunpack = math.floor, math.sqrt, struct.pack, struct.unpack

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
  return nc + 1, nf + 1, nc + 7
end

local function counterRead(cs, x, v)
  if not v then return end
  if #v == 56 then
    cs[x], cs[x + 1], cs[x + 2], cs[x + 3], cs[x + 4], cs[x + 5], cs[x + 6] = sunpack('<ddddddd', v)
  else
    cs[x], cs[x + 1], cs[x + 2] = sunpack('<ddd', v)
  end
end

local function counterWrite(args, na, name, cs, x)
  local v
  if cs[x + 3] ~= nil then
    v = spack('<ddddddd', cs[x], cs[x + 1], cs[x + 2], cs[x + 3], cs[x + 4], cs[x + 5], cs[x + 6])
  else
    v = spack('<ddd', cs[x], cs[x + 1], cs[x + 2])
  end
  args[na + 1], args[na + 2] = name, v
  return na + 2
end

-- Folds one closed bucket's count x into the baseline at r[sp + 3..sp + 6]: n, mean, variance, peak.
local function fold(r, sp, x, alpha, decay)
  local bn = r[sp + 3] + 1
  r[sp + 3] = bn
  if bn == 1 then
    r[sp + 4] = x
    r[sp + 5] = 0
  else
    local m = r[sp + 4]
    local d = x - m
    local incr = alpha * d
    r[sp + 4] = m + incr
    r[sp + 5] = (1 - alpha) * (r[sp + 5] + d * incr)
  end
  local decayed = r[sp + 6] * decay
  if x > decayed then r[sp + 6] = x else r[sp + 6] = decayed end
end

-- Math.max semantics for the three threshold terms (NaN wins).
local function max3(x, y, z)
  if x ~= x or y ~= y or z ~= z then return 0 / 0 end
  local m = x
  if y > m then m = y end
  if z > m then m = z end
  return m
end

-- The bucket at r[sp] closed `gap` buckets ago: fold it unless it was over the
-- threshold after learning, then the empty ones between (at most maxFold).
local function roll(r, sp, gap, params, pi, firstSeen, maxFold)
  local p = (pi - 1) * 7
  local alpha, decay = params[p + 1], params[p + 2]
  local count = r[sp + 1]
  local skip = false
  if r[sp + 3] >= params[p + 4] and r[sp] - firstSeen >= params[p + 3] then
    local m = r[sp + 4]
    skip = count > max3(params[p + 5], params[p + 6] * r[sp + 6], m + params[p + 7] * sqrt(r[sp + 5] + m))
  end
  if not skip then fold(r, sp, count, alpha, decay) end
  local empties = gap - 1
  if empties > maxFold then empties = maxFold end
  -- Like the memory store's loop: a fractional gap (windowMs changed) folds ceil(empties).
  local j = 0
  while j < empties do
    fold(r, sp, 0, alpha, decay)
    j = j + 1
  end
end

-- Pass 2, one event at ts (u[q] is its wire entry): counts it in the counter
-- at cs[sp], and appends the counter's view to out after no. Returns the new no.
local function counterApply(u, q, cs, sp, ts, firstSeen, tkeys, params, maxFold, out, no)
  local w, pi = u[q + 2], u[q + 3]
  local idx = floor(ts / w) * w
  local b = cs[sp]
  if b == nil then
    cs[sp], cs[sp + 1], cs[sp + 2] = idx, 0, 0
    if pi > 0 then cs[sp + 3], cs[sp + 4], cs[sp + 5], cs[sp + 6] = 0, 0, 0, 0 end
  elseif idx > b then
    local gap = (idx - b) / w
    if pi > 0 and cs[sp + 3] ~= nil then roll(cs, sp, gap, params, pi, firstSeen, maxFold) end
    if gap == 1 then cs[sp + 2] = cs[sp + 1] else cs[sp + 2] = 0 end
    cs[sp + 1] = 0
    cs[sp] = idx
  end
  local c = cs[sp + 1] + 1
  cs[sp + 1] = c
  if cs[sp + 3] ~= nil then
    out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = c * 4 + 2, tkeys[u[q + 1]], w, cs[sp], cs[sp + 2]
    out[no + 6], out[no + 7], out[no + 8], out[no + 9] = cs[sp + 3], cs[sp + 4], cs[sp + 5], cs[sp + 6]
    return no + 9
  end
  out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = c * 4 + 1, tkeys[u[q + 1]], w, cs[sp], cs[sp + 2]
  return no + 5
end

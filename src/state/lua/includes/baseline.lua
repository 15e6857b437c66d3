--[[
  baseline.lua: a counter's learned baseline. Mirrors src/state/baseline.ts
  operation for operation (same order of floating-point operations, the same
  comparisons), so IEEE results are identical to the memory store's.
  State    a table of BASELINE_SIZE numbers, as BaselineState:
             1 n, 2 mean, 3 variance, 4 hour (-1: none), 5 hn, 6 hsum, 7 hsq,
             then per hour of day h (0..23, UTC): BASELINE_SLOT + h its slot,
             BASELINE_VAR + h its variance (float32 values), BASELINE_K + h
             its days learned (an integer, capped at 255), then 80 ln and
             81 ld: the day's level, closed hours' counts and what their
             slots expected, decayed by BASELINE_LEVEL_DECAY per hour (float32)
  Stored   by counter.lua, in fields of at most 64 bytes: n mean variance
           hour hn after the counter's b c p in <track>|C; hsum hsq, the
           24 k and ln ld in <track>|H (40 bytes without ln ld, as written
           before the level: read as 0); the slots (float32) in |E |F, the
           vars in |V |W
           The class store (class-1.lua) keeps one packed value per counter
           instead, after its firstSeen b c p: BASELINE_PACK, 7 doubles, 48
           floats, 24 bytes and 2 floats (class hashes are few; their size
           does not matter the way an identity's does)
  Params   5 numbers per baseline from offset p: alpha, slotAlpha,
           learningPeriodMs, minBuckets, learnZ (BaselineParams)
  View     10 values: n, mean, variance, expected, noise, expectedHigh,
           noiseHigh, slotN, expectedLow, level
]]

local BASELINE_SLOTS, BASELINE_MAX_K = 24, 255
local BASELINE_SLOT, BASELINE_VAR, BASELINE_K, BASELINE_LN, BASELINE_LD, BASELINE_SIZE = 8, 32, 56, 80, 81, 81
local BASELINE_LEVEL_DECAY, BASELINE_LEVEL_MIN = 0.6, 40
local B_HOUR, B_DAY = 3600000, 86400000
local BASELINE_PACK = 'ddddddd' .. string.rep('f', 48) .. string.rep('B', 24) .. 'ff'
local bfloor, bsqrt, bpack, bunpack = math.floor, math.sqrt, struct.pack, struct.unpack

local function newBaseline()
  local b = { 0, 0, 0, -1, 0, 0, 0 }
  for j = 8, BASELINE_SIZE do b[j] = 0 end
  return b
end

-- Math.fround: struct's 'f' is a C (float) cast, round to nearest even.
local function fround(x)
  return (bunpack('<f', bpack('<f', x)))
end

local function slotOf(ts)
  return bfloor((ts - bfloor(ts / B_DAY) * B_DAY) / B_HOUR)
end

local function bucketSd(variance, expected)
  if variance > expected then return bsqrt(variance) end
  return bsqrt(expected)
end

-- The hour in the accumulator goes into its slot, weighted 1/days, then slotAlpha.
local function closeHour(b, slotAlpha)
  local hn = b[5]
  if hn == 0 then return end
  local h = slotOf(b[4])
  local k = b[BASELINE_K + h]
  if k > 0 then
    b[BASELINE_LN] = fround(BASELINE_LEVEL_DECAY * b[BASELINE_LN] + b[6])
    b[BASELINE_LD] = fround(BASELINE_LEVEL_DECAY * b[BASELINE_LD] + hn * b[BASELINE_SLOT + h])
  end
  if k < BASELINE_MAX_K then k = k + 1 else k = BASELINE_MAX_K end
  b[BASELINE_K + h] = k
  local w = 1 / k
  if not (w > slotAlpha) then w = slotAlpha end
  local mu = b[6] / hn
  local s = b[BASELINE_SLOT + h]
  local d = mu - s
  local spread = b[7] / hn - mu * mu
  if spread < 0 then spread = 0 end
  local v = spread
  if k ~= 1 then v = spread + d * d end
  b[BASELINE_SLOT + h] = fround(s + w * d)
  local vr = b[BASELINE_VAR + h]
  b[BASELINE_VAR + h] = fround(vr + w * (v - vr))
  b[5], b[6], b[7] = 0, 0, 0
end

-- One closed bucket of x events that started at t (foldBucket).
local function foldBucket(b, x, t, params, p, firstSeen)
  local hour = bfloor(t / B_HOUR) * B_HOUR
  if hour ~= b[4] then
    closeHour(b, params[p + 2])
    b[4] = hour
  end
  if b[1] >= params[p + 4] and t - firstSeen >= params[p + 3] then
    local h = slotOf(t)
    local e, v
    if b[BASELINE_K + h] > 0 then
      e, v = b[BASELINE_SLOT + h], b[BASELINE_VAR + h]
    else
      e, v = b[2], b[3]
    end
    local gate = e + params[p + 5] * bucketSd(v, e) + 1
    if x > gate then x = gate end
  end
  local n = b[1] + 1
  b[1] = n
  if n == 1 then
    b[2] = x
    b[3] = 0
  else
    local alpha = params[p + 1]
    local m = b[2]
    local d = x - m
    local incr = alpha * d
    b[2] = m + incr
    b[3] = (1 - alpha) * (b[3] + d * incr)
  end
  b[5] = b[5] + 1
  b[6] = b[6] + x
  b[7] = b[7] + x * x
end

-- The bucket that started at closedStart with `count` events, then the gap - 1
-- empty ones after it, at most maxFold (a fractional gap folds floor(gap - 1), like the TS loop).
local function rollBaseline(b, count, gap, windowMs, params, pi, closedStart, firstSeen, maxFold)
  local p = (pi - 1) * 5
  foldBucket(b, count, closedStart, params, p, firstSeen)
  local empties = gap - 1
  if empties > maxFold then empties = maxFold end
  for i = 1, empties do
    foldBucket(b, 0, closedStart + i * windowMs, params, p, firstSeen)
  end
end

-- The view for the bucket starting at bucketStart, appended to out after no: returns the new no.
-- expectedHigh, noiseHigh and expectedLow: over the hour before, this hour and the hour after, in that order.
local function baselineView(b, bucketStart, out, no)
  local h = slotOf(bucketStart)
  local high, highNoise, low = -1, 0, -1
  local s = h - 1
  if h == 0 then s = BASELINE_SLOTS - 1 end
  for _ = 1, 3 do
    local e, v
    if b[BASELINE_K + s] > 0 then
      e, v = b[BASELINE_SLOT + s], b[BASELINE_VAR + s]
    else
      e, v = b[2], b[3]
    end
    if e > high then high = e end
    if v > highNoise then highNoise = v end
    if low < 0 or e < low then low = e end
    if s == BASELINE_SLOTS - 1 then s = 0 else s = s + 1 end
  end
  local k = b[BASELINE_K + h]
  local e, v
  if k > 0 then
    e, v = b[BASELINE_SLOT + h], b[BASELINE_VAR + h]
  else
    e, v = b[2], b[3]
  end
  out[no + 1], out[no + 2], out[no + 3], out[no + 4] = b[1], b[2], b[3], e
  local level = 1
  if b[BASELINE_LD] >= BASELINE_LEVEL_MIN then level = b[BASELINE_LN] / b[BASELINE_LD] end
  out[no + 5], out[no + 6], out[no + 7], out[no + 8], out[no + 9] = v, high, highNoise, k, low
  out[no + 10] = level
  return no + 10
end

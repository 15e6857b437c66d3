--[[
  class-1.lua: one engine batch of the class store (peer groups). Mirrors
  MemoryClassStore (src/state/class-store.ts) operation for operation, the
  baseline by baseline.lua, so IEEE results are identical.

  KEYS[1]  the class store's base key, <prefix>:{c}; per class (keys.lua):
             <base>:k:<sha1(class)>  HASH, field a counter's key: '<dddd'
                                     firstSeen b c p (32 bytes), with a
                                     baseline then BASELINE_PACK (312 bytes;
                                     304 as written before the day's level)
             <base>:a:<sha1(class)>  ZSET, identities scored by their latest event time
  ARGV[1]  cmsgpack {at, activeWindowMs, params, classes}
             params   5 numbers per baseline (baseline.lua)
             classes  flat, per class: name, noted (1: identities of the
                      class are in the batch: add them and prune; 0: count
                      only), n, then n values: identity, latest ts pairs;
                      m, then m counters: key, windowMs, paramIndex (0:
                      none), r, then r values: bucketStart, events runs
  ARGV[2]  counters' idle TTL (ms)
  ARGV[3]  active sets' idle TTL (ms)
  ARGV[4]  MAX_EMPTY_FOLD
  Returns  cmsgpack flat, per class in order: its active count, then per
           counter in order, as it was before the batch: 0 (none yet); or 1,
           firstSeen, bucketStart, count, prev; or 2, the same, then the
           baseline's 10 view values. Floats travel as msgpack floats.
  Errors   WARDEN_INCONSISTENT (a counter field of another size): raised
           before any write.
]]
--- @include "keys"
--- @include "baseline"

local CLASS_PLAIN, CLASS_BASELINE = '<dddd', '<dddd' .. BASELINE_PACK
local CLASS_BASELINE_V1 = '<dddd' .. string.sub(BASELINE_PACK, 1, -3)
local cpack, cunpack = struct.pack, struct.unpack

local base = KEYS[1]
local batch = cmsgpack.unpack(ARGV[1])
local at, activeWindow, params, cl = batch[1], batch[2], batch[3], batch[4]
local counterTtl, activeTtl, maxFold = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local from = at - activeWindow

-- A counter's state: { firstSeen, b, c, p, baseline (nil: none) }.
local function classRead(v, key)
  if not v then return nil end
  local len = #v
  if len == 32 then
    local fs, b, c, p = cunpack(CLASS_PLAIN, v)
    return { fs, b, c, p }
  elseif len == 312 then
    local t = { cunpack(CLASS_BASELINE, v) }
    return { t[1], t[2], t[3], t[4], { unpack(t, 5, 4 + BASELINE_SIZE) } }
  elseif len == 304 then
    -- Written before the day's level: it starts at 0.
    local t = { cunpack(CLASS_BASELINE_V1, v) }
    local b = { unpack(t, 5, 2 + BASELINE_SIZE) }
    b[BASELINE_LN], b[BASELINE_LD] = 0, 0
    return { t[1], t[2], t[3], t[4], b }
  end
  error({ err = 'WARDEN_INCONSISTENT class counter field ' .. key .. ' has ' .. len .. ' bytes, not 32 or 312' })
end

local function classWrite(s)
  local b = s[5]
  if b ~= nil then return cpack(CLASS_BASELINE, s[1], s[2], s[3], s[4], unpack(b, 1, BASELINE_SIZE)) end
  return cpack(CLASS_PLAIN, s[1], s[2], s[3], s[4])
end

-- Pass 1: per class, where its entries are, and its counters as stored (one HMGET).
local C, nc = {}, 0
local i, ncl = 1, #cl
while i <= ncl do
  local noted, n = cl[i + 1], cl[i + 2]
  local ids = i + 3
  local m = cl[ids + n]
  local cs = ids + n + 1
  local ck, ak = classKeysOf(base, cl[i])
  local fields, q = {}, cs
  for j = 1, m do
    fields[j] = cl[q]
    q = q + 4 + cl[q + 3]
  end
  local st = {}
  if m > 0 then
    local got = redis.call('HMGET', ck, unpack(fields))
    for j = 1, m do st[j] = classRead(got[j], fields[j]) end
  end
  nc = nc + 1
  C[nc] = { noted, ids, n, cs, m, ck, ak, st }
  i = q
end

-- Pass 2: active identities, then each counter's view before the batch and the batch's runs.
local out, no = {}, 0
for k = 1, nc do
  local noted, ids, n, cs, m, ck, ak, st = unpack(C[k])
  if noted == 1 then
    if n > 0 then
      local args = {}
      for j = 0, n - 1, 2 do args[j + 1], args[j + 2] = cl[ids + j + 1], cl[ids + j] end
      redis.call('ZADD', ak, 'GT', unpack(args))
    end
    redis.call('ZREMRANGEBYSCORE', ak, '-inf', from)
  end
  no = no + 1
  out[no] = redis.call('ZCARD', ak)
  if noted == 1 then redis.call('PEXPIRE', ak, activeTtl) end
  if m > 0 then
    local hargs, nh = {}, 0
    local q = cs
    for j = 1, m do
      local w, pi, r = cl[q + 1], cl[q + 2], cl[q + 3]
      local s = st[j]
      if s == nil then
        no = no + 1
        out[no] = 0
      else
        out[no + 2], out[no + 3], out[no + 4], out[no + 5] = s[1], s[2], s[3], s[4]
        if s[5] ~= nil then
          out[no + 1] = 2
          no = baselineView(s[5], s[2], out, no + 5)
        else
          out[no + 1] = 1
          no = no + 5
        end
      end
      for x = q + 4, q + 3 + r, 2 do
        local idx = cl[x]
        if s == nil then
          s = { idx, idx, 0, 0 }
          if pi > 0 then s[5] = newBaseline() end
        elseif idx > s[2] then
          local gap = (idx - s[2]) / w
          if s[5] ~= nil and pi > 0 then rollBaseline(s[5], s[3], gap, w, params, pi, s[2], s[1], maxFold) end
          if gap == 1 then s[4] = s[3] else s[4] = 0 end
          s[3] = 0
          s[2] = idx
        end
        s[3] = s[3] + cl[x + 1]
      end
      if s ~= nil then
        hargs[nh + 1], hargs[nh + 2] = cl[q], classWrite(s)
        nh = nh + 2
      end
      q = q + 4 + r
    end
    if nh > 0 then
      redis.call('HSET', ck, unpack(hargs))
      redis.call('PEXPIRE', ck, counterTtl)
    end
  end
end

return cmsgpack.pack(out)

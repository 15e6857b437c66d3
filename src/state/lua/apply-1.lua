--[[
  apply-1.lua: applies one partition batch of window-state updates, in order.
  Mirrors src/state/memory-store.ts and src/state/baseline.ts operation for
  operation, so IEEE results are identical.

  KEYS[1]  the partition's base key, e.g. warden:{p:agent.actions:3}
  ARGV[1]  cmsgpack {keys, params, updates}
             keys     track keys, referenced by 1-based index
             params   7 numbers per baseline: alpha, peakDecay, learningPeriodMs,
                      minBuckets, minEvents, multiplier, zScore
             updates  flat: offset (decimal string), identity, ts, nslots, then
                      per track: 1, keyIndex, windowMs, paramIndex (0: none)  counter
                                 2, keyIndex, member, cap                     seen
                                 3, keyIndex, windowMs, member, cap           distinct
  ARGV[2]  idle TTL in ms
  ARGV[3]  MAX_EMPTY_FOLD
  Returns  cmsgpack {committed before the batch (decimal string or false), outcomes}
           outcome: 0 (already committed) or a flat view array
             identity, firstSeen, events, breaker (string or false), then per track
             1, key, windowMs, bucketStart, count, prev                          counter
             2, key, windowMs, bucketStart, count, prev, n, mean, variance, peak  with baseline
             3, key, added, size, full                                           seen
             4, key, added, count, prev, bucketStart, windowMs                   distinct
           Floats travel as msgpack float64, so nothing is truncated.
  Errors   WARDEN_KEY_COLLISION, WARDEN_INCONSISTENT: raised before any write.

  Every key is built here from KEYS[1] and so shares its hash tag: one slot,
  Redis Cluster safe. Undeclared same-slot keys are used the way BullMQ does.
    <base>:m                   HASH applied, committed, next (outbox seq)
    <base>:pending             STRING: per apply, cmsgpack {offset, index, ...} then
                               that apply's reply: the views not yet committed
    <base>:i:<sha1(id)>        HASH _id _f _e _x _b; per counter <track>|b|c|p (+ |n|m|v|k
                               with a baseline); per seen set <track>|S (its size); per
                               distinct <track>|B|P|N (bucket start, previous count, size)
    <base>:s:<sha1(id)>:<sha1(track)>  SET seen members
    <base>:d:<sha1(id)>:<sha1(track)>  SET distinct members of the current bucket

  Expiry is wall clock (PEXPIREAT from TIME) because it only reclaims memory of
  idle identities; windows are event time so replays give the same views. All
  keys of an identity share one deadline, set on creation and pushed forward
  when `_x` (event ts of the last push) is more than TTL/4 behind, so a set
  never outlives or predeceases its identity hash.
]]

local base = KEYS[1]
local batch = cmsgpack.unpack(ARGV[1])
local ttl = tonumber(ARGV[2])
local maxFold = tonumber(ARGV[3])
local tkeys, params, u = batch[1], batch[2], batch[3]
local metaKey, pendKey = base .. ':m', base .. ':pending'

local function fmt(x) return string.format('%.17g', x) end
-- Offsets are decimal strings without leading zeros.
local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end

local function callChunked(cmd, key, args)
  local n = #args
  for i = 1, n, 4000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 3999, n)))
  end
end

local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end

local trackSha = {}
local function shaOf(tk)
  local s = trackSha[tk]
  if not s then
    s = redis.sha1hex(tk)
    trackSha[tk] = s
  end
  return s
end

-- Pass 1: classify every update, note the hash fields each fresh identity needs.
local meta = redis.call('HMGET', metaKey, 'applied', 'committed')
local applied, committed = meta[1], meta[2]
local nu = #u
local status, starts = {}, {}
local pending
local ids, order = {}, {}

local function loadPending()
  local map = {}
  local raw = redis.call('GET', pendKey)
  if raw then
    local pos, index, reply = 0, nil, nil
    while pos >= 0 do
      pos, index = cmsgpack.unpack_one(raw, pos)
      pos, reply = cmsgpack.unpack_one(raw, pos)
      for j = 1, #index, 2 do map[index[j]] = reply[2][index[j + 1]] end
    end
  end
  return map
end

-- Hash field names, built once per call per track key.
local names = {}
local function namesOf(kind, ki)
  local id = ki * 4 + kind
  local nm = names[id]
  if not nm then
    local tk = tkeys[ki]
    if kind == 1 then
      nm = { tk .. '|b', tk .. '|c', tk .. '|p', tk .. '|n', tk .. '|m', tk .. '|v', tk .. '|k' }
    elseif kind == 2 then
      nm = { tk .. '|S' }
    else
      nm = { tk .. '|B', tk .. '|P', tk .. '|N' }
    end
    names[id] = nm
  end
  return nm
end

local slots = { 4, 4, 5 }
local i, n, a = 1, 0, applied
while i <= nu do
  local off, id, ns = u[i], u[i + 1], u[i + 3]
  n = n + 1
  starts[n] = i
  if committed and le(off, committed) then
    status[n] = 0
  elseif a and le(off, a) then
    if not pending then pending = loadPending() end
    if pending[off] == nil then
      error({ err = 'WARDEN_INCONSISTENT offset ' .. off .. ' was applied but its view is not pending' })
    end
    status[n] = 1
  else
    status[n] = 2
    a = off
    local st = ids[id]
    if not st then
      st = { id = id, fields = { '_id', '_f', '_e', '_x', '_b' }, reg = {}, tracks = {},
             counters = {}, seen = {}, distinct = {}, sets = {} }
      ids[id] = st
      order[#order + 1] = st
    end
    local q, stop = i + 4, i + 4 + ns
    while q < stop do
      local kind, ki = u[q], u[q + 1]
      local rk = ki * 4 + kind
      if not st.reg[rk] then
        st.reg[rk] = true
        local f, nm, tl = st.fields, namesOf(kind, ki), st.tracks
        for j = 1, #nm do f[#f + 1] = nm[j] end
        tl[#tl + 1] = kind
        tl[#tl + 1] = ki
      end
      q = q + slots[kind]
    end
  end
  i = i + 4 + ns
end

-- One HMGET per identity; every collision is found before the first write.
for _, st in ipairs(order) do
  st.sha = redis.sha1hex(st.id)
  st.h = base .. ':i:' .. st.sha
  local f, r = st.fields, nil
  if #f <= 4000 then
    r = redis.call('HMGET', st.h, unpack(f))
  else
    r = {}
    for j = 1, #f, 4000 do
      local part = redis.call('HMGET', st.h, unpack(f, j, math.min(j + 3999, #f)))
      for q = 1, #part do r[#r + 1] = part[q] end
    end
  end
  if r[1] and r[1] ~= st.id then
    error({ err = 'WARDEN_KEY_COLLISION ' .. st.h .. ' belongs to another identity' })
  end
  st.hasId = r[1] ~= false
  st.f, st.e, st.x, st.b = tonumber(r[2]), tonumber(r[3]) or 0, tonumber(r[4]), r[5]
  st.new = st.f == nil
  local q, tl = 6, st.tracks
  for j = 1, #tl, 2 do
    local kind, ki = tl[j], tl[j + 1]
    if kind == 1 then
      st.counters[ki] = { b = tonumber(r[q]), c = tonumber(r[q + 1]), p = tonumber(r[q + 2]), n = tonumber(r[q + 3]),
                          m = tonumber(r[q + 4]), v = tonumber(r[q + 5]), k = tonumber(r[q + 6]) }
      q = q + 7
    elseif kind == 2 then
      st.seen[ki] = { size = tonumber(r[q]) or 0 }
      q = q + 1
    else
      st.distinct[ki] = { b = tonumber(r[q]), p = tonumber(r[q + 1]) or 0, size = tonumber(r[q + 2]) or 0 }
      q = q + 3
    end
  end
end

-- Deadline of an identity's keys (ms since epoch, or negative: none).
local function deadline(st)
  if not st.dl then
    st.dl = st.new and clock() + ttl or redis.call('PEXPIRETIME', st.h)
  end
  return st.dl
end

local function setOf(st, prefix, ki)
  local s = st.sets[ki * 4 + (prefix == 's' and 2 or 3)]
  if not s then
    s = { key = base .. ':' .. prefix .. ':' .. st.sha .. ':' .. shaOf(tkeys[ki]), has = {} }
    st.sets[ki * 4 + (prefix == 's' and 2 or 3)] = s
  end
  return s
end

-- SADD through a per-call cache of known members; true when added. A set
-- created here gets its identity's deadline.
local function addMember(st, s, member, size)
  if s.has[member] then return false end
  s.has[member] = true
  if redis.call('SADD', s.key, member) == 0 then return false end
  if size == 0 then
    local dl = deadline(st)
    if dl > 0 then redis.call('PEXPIREAT', s.key, dl) end
  end
  return true
end

local function isMember(s, member)
  if s.has[member] then return true end
  if redis.call('SISMEMBER', s.key, member) == 1 then
    s.has[member] = true
    return true
  end
  return false
end

local function fold(c, x, alpha, decay)
  c.n = c.n + 1
  if c.n == 1 then
    c.m = x
    c.v = 0
  else
    local d = x - c.m
    local incr = alpha * d
    c.m = c.m + incr
    c.v = (1 - alpha) * (c.v + d * incr)
  end
  local decayed = c.k * decay
  if x > decayed then c.k = x else c.k = decayed end
end

-- Math.max semantics for the three threshold terms (NaN wins).
local function max3(x, y, z)
  if x ~= x or y ~= y or z ~= z then return 0 / 0 end
  local r = x
  if y > r then r = y end
  if z > r then r = z end
  return r
end

local function roll(c, gap, pi, firstSeen)
  local p = (pi - 1) * 7
  local alpha, decay = params[p + 1], params[p + 2]
  local count = c.c
  local skip = false
  if c.n >= params[p + 4] and c.b - firstSeen >= params[p + 3] then
    skip = count > max3(params[p + 5], params[p + 6] * c.k, c.m + params[p + 7] * math.sqrt(c.v + c.m))
  end
  if not skip then fold(c, count, alpha, decay) end
  local empties = math.min(gap - 1, maxFold)
  local j = 0
  while j < empties do
    fold(c, 0, alpha, decay)
    j = j + 1
  end
end

local function applyCounter(st, ki, w, pi, ts, view)
  local c = st.counters[ki]
  local tk = tkeys[ki]
  local idx = math.floor(ts / w) * w
  if c.b == nil then
    c.b, c.c, c.p = idx, 0, 0
    if pi > 0 then c.n, c.m, c.v, c.k = 0, 0, 0, 0 end
    c.rolled = true
  elseif idx > c.b then
    local gap = (idx - c.b) / w
    if c.n and pi > 0 then roll(c, gap, pi, st.f) end
    if gap == 1 then c.p = c.c else c.p = 0 end
    c.c = 0
    c.b = idx
    c.rolled = true
  end
  c.c = c.c + 1
  local nv = #view
  if c.n then
    view[nv + 1], view[nv + 2], view[nv + 3], view[nv + 4], view[nv + 5] = 2, tk, w, c.b, c.c
    view[nv + 6], view[nv + 7], view[nv + 8], view[nv + 9], view[nv + 10] = c.p, c.n, c.m, c.v, c.k
  else
    view[nv + 1], view[nv + 2], view[nv + 3], view[nv + 4], view[nv + 5], view[nv + 6] = 1, tk, w, c.b, c.c, c.p
  end
end

local function applySeen(st, ki, member, cap, view)
  local sv = st.seen[ki]
  local added, full = false, false
  if sv.size < cap then
    added = addMember(st, setOf(st, 's', ki), member, sv.size)
    if added then
      sv.size = sv.size + 1
      sv.added = true
    end
  elseif not isMember(setOf(st, 's', ki), member) then
    full = true
  end
  local nv = #view
  view[nv + 1], view[nv + 2], view[nv + 3], view[nv + 4], view[nv + 5] = 3, tkeys[ki], added, sv.size, full
end

local function applyDistinct(st, ki, w, member, cap, ts, view)
  local d = st.distinct[ki]
  local s = setOf(st, 'd', ki)
  local idx = math.floor(ts / w) * w
  if d.b == nil or idx > d.b then
    if d.b ~= nil and idx - d.b == w then d.p = d.size else d.p = 0 end
    d.b = idx
    d.rolled = true
    if d.size > 0 then redis.call('DEL', s.key) end
    d.size = 0
    s.has = {}
  end
  local added = false
  if d.size < cap and addMember(st, s, member, d.size) then
    added = true
    d.size = d.size + 1
    d.added = true
  end
  local nv = #view
  view[nv + 1], view[nv + 2], view[nv + 3], view[nv + 4] = 4, tkeys[ki], added, d.size
  view[nv + 5], view[nv + 6], view[nv + 7] = d.p, d.b, w
end

-- Pass 2: apply.
local outcomes, fresh = {}, {}
for k = 1, n do
  local p = starts[k]
  local st = status[k]
  if st == 0 then
    outcomes[k] = 0
  elseif st == 1 then
    outcomes[k] = pending[u[p]]
  else
    local off, id, ts, ns = u[p], u[p + 1], u[p + 2], u[p + 3]
    local s = ids[id]
    if s.f == nil or ts < s.f then
      s.f = ts
      s.fdirty = true
    end
    -- Decided per event, not per batch, so `_x` does not depend on batch boundaries.
    if s.x == nil or ts - s.x > ttl / 4 then
      s.x = ts
      s.refresh = true
    end
    s.e = s.e + 1
    local view = { id, s.f, s.e, s.b }
    local q, stop = p + 4, p + 4 + ns
    while q < stop do
      local kind = u[q]
      if kind == 1 then
        applyCounter(s, u[q + 1], u[q + 2], u[q + 3], ts, view)
      elseif kind == 2 then
        applySeen(s, u[q + 1], u[q + 2], u[q + 3], view)
      else
        applyDistinct(s, u[q + 1], u[q + 2], u[q + 3], u[q + 4], ts, view)
      end
      q = q + slots[kind]
    end
    outcomes[k] = view
    fresh[#fresh + 1] = off
    fresh[#fresh + 1] = k
  end
end

-- Pass 3: write back what changed, expiry, offsets and pending views.
for _, s in ipairs(order) do
  local args = {}
  local function put(f, v)
    args[#args + 1] = f
    args[#args + 1] = v
  end
  if not s.hasId then put('_id', s.id) end
  if s.fdirty then put('_f', fmt(s.f)) end
  put('_e', fmt(s.e))
  for ki, c in pairs(s.counters) do
    local nm = names[ki * 4 + 1]
    put(nm[2], fmt(c.c))
    if c.rolled then
      put(nm[1], fmt(c.b))
      put(nm[3], fmt(c.p))
      if c.n then
        put(nm[4], fmt(c.n))
        put(nm[5], fmt(c.m))
        put(nm[6], fmt(c.v))
        put(nm[7], fmt(c.k))
      end
    end
  end
  for ki, sv in pairs(s.seen) do
    if sv.added then put(names[ki * 4 + 2][1], fmt(sv.size)) end
  end
  for ki, d in pairs(s.distinct) do
    local nm = names[ki * 4 + 3]
    if d.rolled then
      put(nm[1], fmt(d.b))
      put(nm[2], fmt(d.p))
    end
    if d.rolled or d.added then put(nm[3], fmt(d.size)) end
  end
  local refresh = s.new or s.refresh
  if refresh then put('_x', fmt(s.x)) end
  callChunked('HSET', s.h, args)
  if refresh then
    local dl = clock() + ttl
    redis.call('PEXPIREAT', s.h, dl)
    if not s.new then
      -- A set exists only with its |S or |B field: find them all, touched or not.
      for _, f in ipairs(redis.call('HKEYS', s.h)) do
        local sfx = string.sub(f, -2)
        if sfx == '|S' or sfx == '|B' then
          local prefix = sfx == '|S' and ':s:' or ':d:'
          redis.call('PEXPIREAT', base .. prefix .. s.sha .. ':' .. shaOf(string.sub(f, 1, -3)), dl)
        end
      end
    end
  end
end

local reply = cmsgpack.pack({ committed or false, outcomes })
if #fresh > 0 then
  redis.call('HSET', metaKey, 'applied', a)
  redis.call('APPEND', pendKey, cmsgpack.pack(fresh) .. reply)
end
return reply

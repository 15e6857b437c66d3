--[[
  apply-1.lua: applies one partition batch of window-state updates, in order.
  Mirrors src/state/memory-store.ts and src/state/baseline.ts operation for
  operation, so IEEE results are identical.

  KEYS[1]  the partition's base key, e.g. warden:{p:agent.actions:3}
  ARGV[1]  cmsgpack {keys, params, ids, members, updates}
             keys     track keys, referenced by 1-based index
             params   7 numbers per baseline: alpha, peakDecay, learningPeriodMs,
                      minBuckets, minEvents, multiplier, zScore
             ids      identities, referenced by 1-based index
             members  seen and distinct members, referenced by 1-based index
             updates  flat: offset (decimal string), idIndex, ts, nslots, then
                      per track: 1, keyIndex, windowMs, paramIndex (0: none)  counter
                                 2, keyIndex, memberIndex, cap                seen
                                 3, keyIndex, windowMs, memberIndex, cap      distinct
  ARGV[2]  idle TTL in ms
  ARGV[3]  MAX_EMPTY_FOLD
  Returns  cmsgpack {committed before the batch (decimal string or false), outcomes}
           outcomes: flat, per update in order: 0 (already committed), or the
             length L of its view followed by the L values of the view:
             identity, firstSeen, events, breaker (string or false), then per track
             count*4+1, key, windowMs, bucketStart, prev                         counter
             count*4+2, key, windowMs, bucketStart, prev, n, mean, variance, peak  with baseline
             size*16 + added*8 + full*4 + 3, key                                 seen
             count*8 + added*4, key, prev, bucketStart, windowMs                 distinct
           The first value of a track, an integer, gives its kind (mod 4) and
           packs its small integers and flags: fewer values to pack and decode.
           Floats travel as msgpack floats (float32 only when exact), so nothing
           is truncated.
  Errors   WARDEN_KEY_COLLISION, WARDEN_INCONSISTENT: raised before any write.

  Every key is built here from KEYS[1] and so shares its hash tag: one slot,
  Redis Cluster safe. Undeclared same-slot keys are used the way BullMQ does.
    <base>:m                   HASH applied, committed, next (outbox seq)
    <base>:pending             STRING: per apply, cmsgpack {offset, start, ...} then
                               that apply's reply: the views not yet committed, each
                               found at `start` (its length) in the reply's outcomes
    <base>:i:<sha1(id)>        HASH, all of one identity's state but distinct members:
                                 _id                identity (collision check)
                                 _s                 struct '<ddd': firstSeen, events, event
                                                    ts of the last expiry push (`x`)
                                 _b                 breaker snapshot (commit-1.lua)
                                 <track>|C          per counter, struct '<ddd' b c p (bucket
                                                    start, count, previous count), or
                                                    '<ddddddd' b c p n m v k with a baseline
                                                    (n, mean, variance, peak)
                                 <track>|S          per seen set: its size (%.17g)
                                 <track>|=<member>|<byte length of track>
                                                    per seen member: "1"
                                 <track>|B|P|N      per distinct track (%.17g): bucket
                                                    start, previous count, current count
    <base>:d:<sha1(id)>:<sha1(track)>  SET distinct members of the current bucket
  Field names decompose uniquely: `_id`, `_s`, `_b`; <track> plus `|` and one
  letter; or a seen member, whose name ends in a digit (never in `|` and a
  letter, so no suffix parse takes it for a track field) and whose trailing
  length gives back <track>, hence <member>: no two tracks or members share a
  field, whatever their characters. A seen set is capped (`cap`), which bounds
  its fields. Doubles are stored exactly: struct packs their bytes, and
  redis.call formats a Lua number with %.17g, which reads back bit-exact.

  Expiry is wall clock (PEXPIREAT from TIME) because it only reclaims memory of
  idle identities; windows are event time so replays give the same views. All
  keys of an identity share one deadline, set on creation and pushed forward
  when `x` (in `_s`) is more than TTL/4 behind, so a distinct set never
  outlives or predeceases its identity hash.

  Cost per batch: per identity one HMGET (every field the batch needs, seen
  members included, so a known member costs nothing more) and one HSET; a
  distinct track adds a SADD per new member, an expiry push a PEXPIREAT (and an
  HKEYS to find the identity's distinct sets).
]]

local call, sha1hex = redis.call, redis.sha1hex
local tonumber, unpack, floor, sqrt = tonumber, unpack, math.floor, math.sqrt
local pack, spack, sunpack = cmsgpack.pack, struct.pack, struct.unpack

local base = KEYS[1]
local batch = cmsgpack.unpack(ARGV[1])
local ttl = tonumber(ARGV[2])
local maxFold = tonumber(ARGV[3])
local tkeys, params, idents, members, u = batch[1], batch[2], batch[3], batch[4], batch[5]
local metaKey, pendKey = base .. ':m', base .. ':pending'

-- Offsets are decimal strings without leading zeros.
local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end

local now
local function clock()
  if not now then
    local t = call('TIME')
    now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
  end
  return now
end

local trackSha = {}
local function shaOf(tk)
  local s = trackSha[tk]
  if not s then
    s = sha1hex(tk)
    trackSha[tk] = s
  end
  return s
end

-- offset -> {outcomes, start}: a view an earlier apply computed, not yet committed.
local function loadPending()
  local map = {}
  local raw = call('GET', pendKey)
  if raw then
    local pos, index, reply = 0, nil, nil
    while pos >= 0 do
      pos, index = cmsgpack.unpack_one(raw, pos)
      pos, reply = cmsgpack.unpack_one(raw, pos)
      local flat = reply[2]
      for j = 1, #index, 2 do map[index[j]] = { flat, index[j + 1] } end
    end
  end
  return map
end

-- Hash field names, built once per call per track key, and per track key and
-- member for seen members (MF, at keyIndex * M + memberIndex).
local cnames, snames, dnames, mpre, msuf, MF = {}, {}, {}, {}, {}, {}
local M = #members + 1

-- Pass 1: classify every update. Per identity: the fields the batch needs (fl),
-- what each field holds (fx: a counter's first slot in the identity's counter
-- state, 7 slots b c p n m v k; 0 a seen set's size; -1 a seen member; -2 a
-- distinct track's first field, -3 its others), and per track and seen member
-- where pass 2 finds its state (ps: the counter slot, else the field position).
-- P gets those of every track of a fresh update, in order, for pass 2.
local meta = call('HMGET', metaKey, 'applied', 'committed')
local applied, committed = meta[1], meta[2]
local nu = #u
local starts, status = {}, {}
local pending
local FL, FX, NF, POS, NC = {}, {}, {}, {}, {}
local order, nord = {}, 0
local P, np = {}, 0

local i, n, a = 1, 0, applied
while i <= nu do
  local off, ns = u[i], u[i + 3]
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
    local k = u[i + 1]
    local fl, fx, ps = FL[k], FX[k], POS[k]
    local nf, nc
    if fl then
      nf, nc = NF[k], NC[k]
    else
      -- Sized for a typical identity, so they rarely grow.
      fl = { '_id', '_s', '_b', nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil }
      fx = { 0, 0, 0, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil }
      ps, nf, nc = {}, 3, 0
      FL[k], FX[k], POS[k] = fl, fx, ps
      nord = nord + 1
      order[nord] = k
    end
    local q, stop = i + 4, i + 4 + ns
    while q < stop do
      local kind, ki = u[q], u[q + 1]
      local rk = ki * 4 + kind
      local sp = ps[rk]
      if not sp then
        sp = nf + 1
        if kind == 1 then
          local nm = cnames[ki]
          if not nm then
            nm = tkeys[ki] .. '|C'
            cnames[ki] = nm
          end
          fl[sp], fx[sp] = nm, nc + 1
          nf = sp
          sp = nc + 1
          nc = nc + 7
        elseif kind == 2 then
          local nm = snames[ki]
          if not nm then
            local tk = tkeys[ki]
            nm = tk .. '|S'
            snames[ki], mpre[ki], msuf[ki] = nm, tk .. '|=', '|' .. #tk
          end
          fl[sp], fx[sp] = nm, 0
          nf = sp
        else
          local nm = dnames[ki]
          if not nm then
            local tk = tkeys[ki]
            nm = { tk .. '|B', tk .. '|P', tk .. '|N' }
            dnames[ki] = nm
          end
          fl[sp], fl[sp + 1], fl[sp + 2] = nm[1], nm[2], nm[3]
          fx[sp], fx[sp + 1], fx[sp + 2] = -2, -3, -3
          nf = sp + 2
        end
        ps[rk] = sp
      end
      np = np + 1
      P[np] = sp
      if kind == 2 then
        local mk = ki * M + u[q + 2]
        local mf = MF[mk]
        if not mf then
          mf = mpre[ki] .. members[u[q + 2]] .. msuf[ki]
          MF[mk] = mf
        end
        local mp = ps[mf]
        if not mp then
          nf = nf + 1
          mp = nf
          fl[mp], fx[mp] = mf, -1
          ps[mf] = mp
        end
        np = np + 1
        P[np] = mp
        q = q + 4
      elseif kind == 1 then
        q = q + 4
      else
        q = q + 5
      end
    end
    NF[k], NC[k] = nf, nc
  end
  i = i + 4 + ns
end

-- One HMGET per identity; every collision is found before the first write.
-- R[k] holds the identity's fields, numbers converted, then updated in place;
-- CS[k] its counters' state, unpacked.
local R, CS, SHA, H, HASID, F, E, X, B, NEW = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
for o = 1, nord do
  local k = order[o]
  local id = idents[k]
  local sha = sha1hex(id)
  local h = base .. ':i:' .. sha
  local fl, nf = FL[k], NF[k]
  local r
  if nf <= 4000 then
    r = call('HMGET', h, unpack(fl, 1, nf))
  else
    r = {}
    for j = 1, nf, 4000 do
      local part = call('HMGET', h, unpack(fl, j, math.min(j + 3999, nf)))
      for q = 1, #part do r[j + q - 1] = part[q] end
    end
  end
  if r[1] and r[1] ~= id then
    error({ err = 'WARDEN_KEY_COLLISION ' .. h .. ' belongs to another identity' })
  end
  SHA[k], H[k], HASID[k], B[k] = sha, h, r[1] ~= false, r[3]
  if r[2] then
    F[k], E[k], X[k] = sunpack('<ddd', r[2])
    NEW[k] = false
  else
    E[k], NEW[k] = 0, true
  end
  local fx, cs = FX[k], {}
  for j = 4, nf do
    local x = fx[j]
    if x > 0 then
      local v = r[j]
      if v then
        if #v == 56 then
          cs[x], cs[x + 1], cs[x + 2], cs[x + 3], cs[x + 4], cs[x + 5], cs[x + 6] = sunpack('<ddddddd', v)
        else
          cs[x], cs[x + 1], cs[x + 2] = sunpack('<ddd', v)
        end
      end
    elseif x == 0 then
      r[j] = tonumber(r[j]) or 0
    elseif x == -2 then
      r[j], r[j + 1], r[j + 2] = tonumber(r[j]), tonumber(r[j + 1]) or 0, tonumber(r[j + 2]) or 0
    end
    -- A seen member (-1): "1" when known, false when not, true once added here.
  end
  R[k], CS[k] = r, cs
end

-- Deadline of an identity's keys (ms since epoch, or negative: none).
local DL = {}
local function deadline(k)
  local dl = DL[k]
  if not dl then
    if NEW[k] then dl = clock() + ttl else dl = call('PEXPIRETIME', H[k]) end
    DL[k] = dl
  end
  return dl
end

-- Distinct sets: key and a per-call cache of known members, per identity and track.
local SETS = {}
local function setOf(k, ki)
  local sets = SETS[k]
  if not sets then
    sets = {}
    SETS[k] = sets
  end
  local s = sets[ki]
  if not s then
    s = { key = base .. ':d:' .. SHA[k] .. ':' .. shaOf(tkeys[ki]), has = {} }
    sets[ki] = s
  end
  return s
end

-- SADD through the cache; true when added. A set created here gets its
-- identity's deadline.
local function addMember(k, s, member, size)
  if s.has[member] then return false end
  s.has[member] = true
  if call('SADD', s.key, member) == 0 then return false end
  if size == 0 then
    local dl = deadline(k)
    if dl > 0 then call('PEXPIREAT', s.key, dl) end
  end
  return true
end

-- Baseline of a counter at r[sp..] (b c p n m v k): n, mean, variance, peak at sp+3..sp+6.
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

local function roll(r, sp, gap, pi, firstSeen)
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

-- Fields to write back beyond the always-written ones, per identity: position
-- of a grown seen set, or of a distinct track (1 added, 2 rolled).
local DIRTY = {}
local function dirty(k, sp, v)
  local d = DIRTY[k]
  if not d then
    d = {}
    DIRTY[k] = d
  end
  if (d[sp] or 0) < v then d[sp] = v end
end

-- Pass 2: apply, building the flat outcomes.
local out, no = {}, 0
local fresh, nfr = {}, 0
local RF = {}
local ttl4 = ttl / 4
local cur = 0
for e = 1, n do
  local st = status[e]
  local p = starts[e]
  if st == 0 then
    no = no + 1
    out[no] = 0
  elseif st == 1 then
    local pv = pending[u[p]]
    local src, s0 = pv[1], pv[2]
    for j = s0, s0 + src[s0] do
      no = no + 1
      out[no] = src[j]
    end
  else
    local k, ts, ns = u[p + 1], u[p + 2], u[p + 3]
    local f = F[k]
    if f == nil or ts < f then
      f = ts
      F[k] = ts
    end
    -- Decided per event, not per batch, so `x` does not depend on batch boundaries.
    local x = X[k]
    if x == nil or ts - x > ttl4 then X[k], RF[k] = ts, true end
    local ev = E[k] + 1
    E[k] = ev
    local r, cs = R[k], CS[k]
    local at = no + 1
    nfr = nfr + 2
    fresh[nfr - 1], fresh[nfr] = u[p], at
    out[no + 2], out[no + 3], out[no + 4], out[no + 5] = idents[k], f, ev, B[k]
    no = no + 5
    local q, stop = p + 4, p + 4 + ns
    while q < stop do
      local kind, ki = u[q], u[q + 1]
      cur = cur + 1
      local sp = P[cur]
      if kind == 1 then
        local w, pi = u[q + 2], u[q + 3]
        local idx = floor(ts / w) * w
        local b = cs[sp]
        if b == nil then
          cs[sp], cs[sp + 1], cs[sp + 2] = idx, 0, 0
          if pi > 0 then cs[sp + 3], cs[sp + 4], cs[sp + 5], cs[sp + 6] = 0, 0, 0, 0 end
        elseif idx > b then
          local gap = (idx - b) / w
          if pi > 0 and cs[sp + 3] ~= nil then roll(cs, sp, gap, pi, F[k]) end
          if gap == 1 then cs[sp + 2] = cs[sp + 1] else cs[sp + 2] = 0 end
          cs[sp + 1] = 0
          cs[sp] = idx
        end
        local c = cs[sp + 1] + 1
        cs[sp + 1] = c
        if cs[sp + 3] ~= nil then
          out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = c * 4 + 2, tkeys[ki], w, cs[sp], cs[sp + 2]
          out[no + 6], out[no + 7], out[no + 8], out[no + 9] = cs[sp + 3], cs[sp + 4], cs[sp + 5], cs[sp + 6]
          no = no + 9
        else
          out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = c * 4 + 1, tkeys[ki], w, cs[sp], cs[sp + 2]
          no = no + 5
        end
        q = q + 4
      elseif kind == 2 then
        cur = cur + 1
        local mp = P[cur]
        local size = r[sp]
        local code = 3
        if not r[mp] then
          if size < u[q + 3] then
            r[mp] = true
            size = size + 1
            r[sp] = size
            code = 11
            dirty(k, sp, 1)
          else
            code = 7
          end
        end
        out[no + 1], out[no + 2] = size * 16 + code, tkeys[ki]
        no = no + 2
        q = q + 4
      else
        local w, member, cap = u[q + 2], members[u[q + 3]], u[q + 4]
        local s = setOf(k, ki)
        local idx = floor(ts / w) * w
        local db = r[sp]
        if db == nil or idx > db then
          if db ~= nil and idx - db == w then r[sp + 1] = r[sp + 2] else r[sp + 1] = 0 end
          r[sp] = idx
          dirty(k, sp, 2)
          if r[sp + 2] > 0 then call('DEL', s.key) end
          r[sp + 2] = 0
          s.has = {}
        end
        local size = r[sp + 2]
        local code
        if size < cap and addMember(k, s, member, size) then
          size = size + 1
          r[sp + 2] = size
          dirty(k, sp, 1)
          code = size * 8 + 4
        else
          code = size * 8
        end
        out[no + 1], out[no + 2], out[no + 3], out[no + 4], out[no + 5] = code, tkeys[ki], r[sp + 1], r[sp], w
        no = no + 5
        q = q + 5
      end
    end
    out[at] = no - at
  end
end

-- Pass 3: write back what changed, expiry, offsets and pending views. Numbers
-- go to redis.call as numbers: it formats them with %.17g.
for o = 1, nord do
  local k = order[o]
  local r, fl, fx, d, cs = R[k], FL[k], FX[k], DIRTY[k], CS[k]
  local args, na
  if HASID[k] then
    args, na = { '_s', spack('<ddd', F[k], E[k], X[k]), nil, nil, nil, nil, nil, nil }, 2
  else
    args, na = { '_s', spack('<ddd', F[k], E[k], X[k]), '_id', idents[k], nil, nil, nil, nil }, 4
  end
  for j = 4, NF[k] do
    local x = fx[j]
    if x > 0 then
      local v
      if cs[x + 3] ~= nil then
        v = spack('<ddddddd', cs[x], cs[x + 1], cs[x + 2], cs[x + 3], cs[x + 4], cs[x + 5], cs[x + 6])
      else
        v = spack('<ddd', cs[x], cs[x + 1], cs[x + 2])
      end
      args[na + 1], args[na + 2] = fl[j], v
      na = na + 2
    elseif x == -1 then
      if r[j] == true then
        args[na + 1], args[na + 2] = fl[j], '1'
        na = na + 2
      end
    elseif x == 0 then
      if d and d[j] then
        args[na + 1], args[na + 2] = fl[j], r[j]
        na = na + 2
      end
    elseif x == -2 then
      local dv = d and d[j]
      if dv then
        if dv == 2 then
          args[na + 1], args[na + 2], args[na + 3], args[na + 4] = fl[j], r[j], fl[j + 1], r[j + 1]
          na = na + 4
        end
        args[na + 1], args[na + 2] = fl[j + 2], r[j + 2]
        na = na + 2
      end
    end
  end
  local refresh = NEW[k] or RF[k]
  local h = H[k]
  for j = 1, na, 4000 do
    call('HSET', h, unpack(args, j, math.min(j + 3999, na)))
  end
  if refresh then
    local dl = clock() + ttl
    call('PEXPIREAT', h, dl)
    if not NEW[k] then
      -- A distinct set exists only with its |B field: find them all, touched or not.
      for _, fname in ipairs(call('HKEYS', h)) do
        if string.sub(fname, -2) == '|B' then
          call('PEXPIREAT', base .. ':d:' .. SHA[k] .. ':' .. shaOf(string.sub(fname, 1, -3)), dl)
        end
      end
    end
  end
end

local reply = pack({ committed or false, out })
if nfr > 0 then
  call('HSET', metaKey, 'applied', a)
  call('APPEND', pendKey, pack(fresh))
  call('APPEND', pendKey, reply)
end
return reply

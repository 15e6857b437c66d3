--[[
  apply-1.lua: applies one partition batch of window-state updates, in order.
  The parts are includes (includes/): keys, offsets, identity, expiry, and one
  per track kind, counter, seen, distinct, each with its wire entry, fields and
  view; baseline holds a counter's learned baseline (src/state/baseline.ts).
  A counter's field <track>|C is '<ddd' b c p, or with a baseline '<dddddddd'
  b c p n mean variance hour hn, and the baseline's rest in <track>|H |E |F |V
  |W (counter.lua): no value over 64 bytes, so identity hashes stay listpacks.

  KEYS[1]  the partition's base key, e.g. warden:{p:agent.actions:3}
  ARGV[1]  cmsgpack {keys, params, ids, members, updates, forwards} (src/state/apply-codec.ts)
             keys     track keys, referenced by 1-based index
             params   5 numbers per baseline: alpha, slotAlpha,
                      learningPeriodMs, minBuckets, learnZ (baseline.lua)
             ids      identities, referenced by 1-based index
             members  seen and distinct members, referenced by 1-based index
             updates  flat: offset (decimal string), idIndex, ts, nslots, then
                      per track its wire entry, which starts with its kind:
                        1, keyIndex, windowMs, paramIndex (0: none)  counter.lua
                        2, keyIndex, memberIndex, cap                seen.lua
                        3, keyIndex, windowMs, memberIndex, cap      distinct.lua
             forwards flat, per forwarded update: its 1-based index in
                      updates, source partition, source offset (decimal
                      strings); a fresh one whose source offset is not above
                      <base>:f[source partition] is a repeat, done (0), and
                      kept pending as such; else it moves that mark
  ARGV[2]  idle TTL in ms (expiry.lua)
  ARGV[3]  MAX_EMPTY_FOLD
  Returns  cmsgpack {committed before the batch (decimal string or false), outcomes}
           outcomes: flat, per update in order: 0 (already committed), or the
             length L of its view followed by the L values of the view:
             identity, firstSeen, events, breaker (string or false), then per
             track its view, whose first value, an integer, gives its kind
             (mod 4) and packs its small integers and flags: fewer values to
             pack and decode. Floats travel as msgpack floats (float32 only
             when exact), so nothing is truncated.
  Errors   WARDEN_KEY_COLLISION, WARDEN_INCONSISTENT: raised before any write.

  Cost per batch: per identity one HMGET (every field the batch needs, seen
  members included, so a known member costs nothing more) and one HSET; a
  distinct track adds a SADD per new member, an expiry push a PEXPIREAT (and an
  HKEYS to find the identity's distinct sets); forwards an HGETALL and an HSET
  of <base>:f per batch.
]]

--- @include "keys"
--- @include "offsets"
--- @include "identity"
--- @include "expiry"
--- @include "counter"
--- @include "seen"
--- @include "distinct"

local base = KEYS[1]
local batch = cmsgpack.unpack(ARGV[1])
local ttl = tonumber(ARGV[2])
local maxFold = tonumber(ARGV[3])
local tkeys, params, idents, members, u, fw = batch[1], batch[2], batch[3], batch[4], batch[5], batch[6]
local metaKey, pendKey = base .. SUFFIX.meta, base .. SUFFIX.pending
local M = #members + 1

-- Pass 1: classify every update (status: offsets.lua). Per identity: the
-- fields the batch needs (FL) and what each holds (FX: a counter's first slot,
-- else a track kind's code; a baseline's fields follow its counter's), and per track and seen member where pass 2 finds
-- its state (POS). P gets those of every track of a fresh update, in order.
local meta = redis.call('HMGET', metaKey, META_FIELD.applied, META_FIELD.committed)
local applied, committed = meta[1], meta[2]
local nu = #u
local starts, status = {}, {}
local FL, FX, NF, POS, NC = {}, {}, {}, {}, {}
local order, nord = {}, 0
local P, np = {}, 0

-- Forwarded updates (FW: update index -> position in fw) and the marks of their source partitions.
local FW, fwMark, fwDirty, nfw = nil, {}, {}, 0
if fw and #fw > 0 then
  FW = {}
  for j = 1, #fw, 3 do FW[fw[j]] = j end
  local raw = redis.call('HGETALL', base .. SUFFIX.forwarded)
  for j = 1, #raw, 2 do fwMark[raw[j]] = raw[j + 1] end
end

local i, n, a = 1, 0, applied
while i <= nu do
  local off, ns = u[i], u[i + 3]
  n = n + 1
  starts[n] = i
  local st = offsetStatus(off, committed, a)
  if st == 2 and FW and FW[n] then
    local j = FW[n]
    local from, fo = fw[j + 1], fw[j + 2]
    local mark = fwMark[from]
    if mark and le(fo, mark) then
      -- 3: a repeated forward, done; applied moves past it so a redo finds it pending.
      st = 3
      a = off
    else
      fwMark[from] = fo
      if not fwDirty[from] then
        fwDirty[from] = true
        nfw = nfw + 1
      end
    end
  end
  status[n] = st
  if st == 1 then
    pendingView(pendKey, off)
  elseif st == 2 then
    a = off
    local k = u[i + 1]
    local fl, fx, ps = FL[k], FX[k], POS[k]
    local nf, nc
    if fl then
      nf, nc = NF[k], NC[k]
    else
      fl, fx = identityFieldList()
      ps, nf, nc = {}, IDENTITY_FIELDS, 0
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
        if kind == COUNTER then
          sp, nf, nc = counterPlan(ki, tkeys[ki], u[q + 3], fl, fx, nf, nc)
        elseif kind == SEEN then
          sp, nf = seenPlan(ki, tkeys[ki], fl, fx, nf)
        else
          sp, nf = distinctPlan(ki, tkeys[ki], fl, fx, nf)
        end
        ps[rk] = sp
      end
      np = np + 1
      P[np] = sp
      if kind == COUNTER then
        q = q + COUNTER_WIRE
      elseif kind == SEEN then
        -- Keys and members are interned, so the pair numbers its field; negative, apart from rk.
        local mk = ki * M + u[q + 2]
        local mp = ps[-mk]
        if not mp then
          mp, nf = seenMemberPlan(ki, mk, members[u[q + 2]], fl, fx, nf)
          ps[-mk] = mp
        end
        np = np + 1
        P[np] = mp
        q = q + SEEN_WIRE
      else
        q = q + DISTINCT_WIRE
      end
    end
    NF[k], NC[k] = nf, nc
  end
  i = i + 4 + ns
end

-- One HMGET per identity; every collision is found before the first write.
-- R[k] holds the identity's fields, converted, then updated in place; CS[k]
-- its counters' state, unpacked; D[k] its dirty fields.
local R, CS, D, SHA, H, HASID, F, E, X, B, NEW, SETS = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
for o = 1, nord do
  local k = order[o]
  local id = idents[k]
  local sha = redis.sha1hex(id)
  local h = identityKeyOf(base, sha)
  local fl, fx, nf = FL[k], FX[k], NF[k]
  local r = hmgetMany(h, fl, nf)
  checkOwner(h, id, r[1])
  SHA[k], H[k], HASID[k], B[k] = sha, h, r[1] ~= false, r[3]
  if r[2] then
    F[k], E[k], X[k] = unpackState(r[2])
    NEW[k] = false
  else
    E[k], NEW[k] = 0, true
  end
  local cs = {}
  for j = IDENTITY_FIELDS + 1, nf do
    local x = fx[j]
    if x > 0 then
      counterRead(cs, x, r, j, fx, h, fl[j])
    elseif x == SEEN_SIZE then
      r[j] = seenSizeRead(r[j])
    elseif x == DISTINCT_FIELDS then
      distinctRead(r, j)
    end
  end
  R[k], CS[k], D[k], SETS[k] = r, cs, {}, {}
end

-- Pass 2: apply, building the flat outcomes; `fresh` indexes the fresh views.
local out, no = {}, 0
local fresh, nfr = {}, 0
local RF = {}
local cur = 0
for e = 1, n do
  local st = status[e]
  local p = starts[e]
  if st == 0 then
    no = no + 1
    out[no] = 0
  elseif st == 1 then
    no = copyView(pendingView(pendKey, u[p]), out, no)
  elseif st == 3 then
    no = no + 1
    out[no] = 0
    nfr = nfr + 2
    fresh[nfr - 1], fresh[nfr] = u[p], no
  else
    local k, ts, ns = u[p + 1], u[p + 2], u[p + 3]
    local f = F[k]
    if f == nil or ts < f then
      f = ts
      F[k] = ts
    end
    if pushDue(X[k], ts, ttl) then X[k], RF[k] = ts, true end
    local ev = E[k] + 1
    E[k] = ev
    local r, cs, d = R[k], CS[k], D[k]
    local at = no + 1
    nfr = nfr + 2
    fresh[nfr - 1], fresh[nfr] = u[p], at
    out[no + 2], out[no + 3], out[no + 4], out[no + 5] = idents[k], f, ev, B[k]
    no = no + 5
    local q, stop = p + 4, p + 4 + ns
    while q < stop do
      local kind = u[q]
      cur = cur + 1
      local sp = P[cur]
      if kind == COUNTER then
        no = counterApply(u, q, cs, sp, ts, f, tkeys, params, maxFold, out, no)
        q = q + COUNTER_WIRE
      elseif kind == SEEN then
        cur = cur + 1
        no = seenApply(r, sp, P[cur], u[q + 3], tkeys[u[q + 1]], d, out, no)
        q = q + SEEN_WIRE
      else
        local s = distinctSet(SETS[k], base, SHA[k], tkeys[u[q + 1]], H[k], NEW[k])
        no = distinctApply(u, q, r, sp, ts, s, ttl, members, tkeys, d, out, no)
        q = q + DISTINCT_WIRE
      end
    end
    out[at] = no - at
  end
end

-- Pass 3: write back the counters and the fields marked dirty (markDirty),
-- expiry, offsets and pending views. Numbers go to redis.call as numbers: it
-- formats them with %.17g.
for o = 1, nord do
  local k = order[o]
  local r, fl, fx, d, cs = R[k], FL[k], FX[k], D[k], CS[k]
  local args, na = identityWrite(HASID[k], idents[k], F[k], E[k], X[k])
  for j = IDENTITY_FIELDS + 1, NF[k] do
    local x = fx[j]
    if x > 0 then
      na = counterWrite(args, na, fl[j], cs, x)
    elseif d[j] then
      if x == SEEN_MEMBER then
        na = seenMemberWrite(args, na, fl[j])
      elseif x == SEEN_SIZE then
        na = seenSizeWrite(args, na, fl[j], r[j])
      elseif x == DISTINCT_FIELDS then
        na = distinctWrite(args, na, fl, r, j, d[j])
      end
    end
  end
  hsetMany(H[k], args, na)
  if NEW[k] or RF[k] then pushDeadline(base, H[k], SHA[k], NEW[k], ttl) end
end

if nfw > 0 then
  local args, na = {}, 0
  for from in pairs(fwDirty) do
    args[na + 1], args[na + 2] = from, fwMark[from]
    na = na + 2
  end
  redis.call('HSET', base .. SUFFIX.forwarded, unpack(args, 1, na))
end

local reply = cmsgpack.pack({ committed or false, out })
if nfr > 0 then recordApplied(metaKey, pendKey, a, fresh, reply) end
return reply

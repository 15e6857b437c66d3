--[[
  offsets.lua: a partition's offsets, stored next to its state so they move
  together (Kafka Streams' state-store idea). Offsets are decimal strings
  without leading zeros.
    <base>:m applied     the last offset applied
    <base>:m committed   the last offset committed
    <base>:pending       per apply with fresh updates, cmsgpack {offset, start, ...}
                         then that apply's reply {committed, outcomes}: each
                         offset's view is found at `start` in outcomes (its
                         length L, then the L values of the view)
  An update at or below `committed` is done; one above it and at or below
  `applied` gets back the view its first apply returned (it must be pending);
  commit drops the views up to the offset it commits.
]]
--- @include "keys"

local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end

-- 0: committed, 1: applied but not committed (its view is pending), 2: fresh.
local function offsetStatus(off, committed, applied)
  if committed and le(off, committed) then return 0 end
  if applied and le(off, applied) then return 1 end
  return 2
end

-- Calls fn(offset, outcomes, start) for every pending view.
local function eachPending(raw, fn)
  local pos = 0
  while pos >= 0 do
    local index, reply
    pos, index = cmsgpack.unpack_one(raw, pos)
    pos, reply = cmsgpack.unpack_one(raw, pos)
    local flat = reply[2]
    for j = 1, #index, 2 do fn(index[j], flat, index[j + 1]) end
  end
end

-- The pending view of an applied offset, read once per call ({outcomes, start}).
local pendingViews
local function pendingView(pendKey, off)
  if not pendingViews then
    pendingViews = {}
    local raw = redis.call('GET', pendKey)
    if raw then eachPending(raw, function(o, flat, start) pendingViews[o] = { flat, start } end) end
  end
  local pv = pendingViews[off]
  if pv == nil then
    error({ err = 'WARDEN_INCONSISTENT offset ' .. off .. ' was applied but its view is not pending' })
  end
  return pv
end

-- Copies a pending view (its length, then its values) to out after no; returns the new no.
local function copyView(pv, out, no)
  local src, s0 = pv[1], pv[2]
  for j = s0, s0 + src[s0] do
    no = no + 1
    out[no] = src[j]
  end
  return no
end

-- After an apply: `applied` moves to its last fresh offset, and index
-- {offset, start, ...} locates the fresh views in reply.
local function recordApplied(metaKey, pendKey, applied, index, reply)
  redis.call('HSET', metaKey, META_FIELD.applied, applied)
  redis.call('APPEND', pendKey, cmsgpack.pack(index))
  redis.call('APPEND', pendKey, reply)
end

-- A commit of `offset`: `committed` only moves forward, `applied` is never
-- behind it, and pending views up to it are dropped; later ones stay pending.
local function recordCommitted(metaKey, pendKey, offset, applied, committed)
  if not committed or not le(offset, committed) then committed = offset end
  local oldApplied = applied
  if not applied or le(applied, committed) then applied = committed end
  redis.call('HSET', metaKey, META_FIELD.committed, committed, META_FIELD.applied, applied)
  if not oldApplied or le(oldApplied, committed) then
    redis.call('DEL', pendKey)
    return
  end
  local raw = redis.call('GET', pendKey)
  if not raw then return end
  local index, flat, ni, no = {}, {}, 0, 0
  eachPending(raw, function(o, src, s0)
    if not le(o, committed) then
      index[ni + 1], index[ni + 2] = o, no + 1
      ni = ni + 2
      for q = s0, s0 + src[s0] do
        no = no + 1
        flat[no] = src[q]
      end
    end
  end)
  if no > 0 then
    redis.call('SET', pendKey, cmsgpack.pack(index) .. cmsgpack.pack({ false, flat }))
  else
    redis.call('DEL', pendKey)
  end
end

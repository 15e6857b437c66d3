--[[
  commit-1.lua: atomically stores breaker snapshots, appends outbox records
  and advances the committed offset of one partition.

  KEYS[1]  the partition's base key (see apply-1.lua for the key layout; every
           key is built from it, BullMQ style, so all share its hash tag)
  ARGV[1]  cmsgpack {offset (decimal string), breakers}
             breakers  flat: identity, snapshot ('' deletes it), ...
  ARGV[2]  idle TTL in ms (for an identity hash this creates)
  ARGV[3..] outbox records, each msgpack [topic, key, value, headers], appended to
           the LIST <base>:o as the msgpack array [seq, record]. They stay opaque
           here: Redis's cmsgpack cannot read the bin type of `value`.
  Returns  the number of records appended
  Errors   WARDEN_KEY_COLLISION: raised before any write.
]]

local base = KEYS[1]
local c = cmsgpack.unpack(ARGV[1])
local ttl = tonumber(ARGV[2])
local offset, breakers = c[1], c[2]
local metaKey, pendKey, outKey = base .. ':m', base .. ':pending', base .. ':o'

local function le(a, b)
  if #a ~= #b then return #a < #b end
  return a <= b
end

local hashes, exists = {}, {}
for j = 1, #breakers, 2 do
  local id = breakers[j]
  local h = base .. ':i:' .. redis.sha1hex(id)
  local owner = redis.call('HGET', h, '_id')
  if owner and owner ~= id then
    error({ err = 'WARDEN_KEY_COLLISION ' .. h .. ' belongs to another identity' })
  end
  hashes[j], exists[j] = h, owner ~= false
end

for j = 1, #breakers, 2 do
  local h, snap = hashes[j], breakers[j + 1]
  if snap == '' then
    redis.call('HDEL', h, '_b')
  elseif exists[j] then
    redis.call('HSET', h, '_b', snap)
  else
    redis.call('HSET', h, '_id', breakers[j], '_b', snap)
    redis.call('PEXPIRE', h, ttl)
    exists[j] = true
  end
end

local meta = redis.call('HMGET', metaKey, 'applied', 'committed', 'next')
local applied, committed = meta[1], meta[2]
local nr = #ARGV - 2
if nr > 0 then
  local seq = tonumber(meta[3]) or 0
  local entries = {}
  for j = 1, nr do
    -- 0x92: a two-element msgpack array [seq, record]
    entries[j] = '\146' .. cmsgpack.pack(seq) .. ARGV[j + 2]
    seq = seq + 1
  end
  for j = 1, nr, 4000 do
    redis.call('RPUSH', outKey, unpack(entries, j, math.min(j + 3999, nr)))
  end
  redis.call('HSET', metaKey, 'next', string.format('%.17g', seq))
end

if not committed or not le(offset, committed) then committed = offset end
local oldApplied = applied
if not applied or le(applied, committed) then applied = committed end
redis.call('HSET', metaKey, 'committed', committed, 'applied', applied)

-- Pending views up to the committed offset are done; later ones stay pending.
if not oldApplied or le(oldApplied, committed) then
  redis.call('DEL', pendKey)
else
  local raw = redis.call('GET', pendKey)
  if raw then
    -- Each chunk is {offset, start, ...} then a reply whose flat outcomes hold
    -- at `start` the length of that offset's view, then the view.
    local index, flat, ni, no, pos = {}, {}, 0, 0, 0
    while pos >= 0 do
      local chunk, reply
      pos, chunk = cmsgpack.unpack_one(raw, pos)
      pos, reply = cmsgpack.unpack_one(raw, pos)
      local src = reply[2]
      for j = 1, #chunk, 2 do
        if not le(chunk[j], committed) then
          local s0 = chunk[j + 1]
          index[ni + 1], index[ni + 2] = chunk[j], no + 1
          ni = ni + 2
          for q = s0, s0 + src[s0] do
            no = no + 1
            flat[no] = src[q]
          end
        end
      end
    end
    if no > 0 then
      redis.call('SET', pendKey, cmsgpack.pack(index) .. cmsgpack.pack({ false, flat }))
    else
      redis.call('DEL', pendKey)
    end
  end
end

return nr

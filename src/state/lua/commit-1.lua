--[[
  commit-1.lua: atomically stores breaker snapshots, appends outbox records
  and advances the committed offset of one partition.

  KEYS[1]  the partition's base key (every key is built from it: includes/keys.lua)
  ARGV[1]  cmsgpack {offset (decimal string), breakers}
             breakers  flat: identity, snapshot ('' deletes it), ...
  ARGV[2]  idle TTL in ms (for an identity hash this creates)
  ARGV[3..] outbox records, each msgpack [topic, key, value, headers] (a forward adds
           its partition), appended to
           the LIST <base>:o as the msgpack array [seq, record]. They stay opaque
           here: Redis's cmsgpack cannot read the bin type of `value`.
  Returns  {records appended, seq of the outbox's oldest record before this call
           (the first one's when it was empty), seq of the first one appended},
           the seqs as decimal strings: the committer publishes from memory
           when nothing older waits in the outbox (docs/design.md)
  Errors   WARDEN_KEY_COLLISION: raised before any write.
]]

--- @include "keys"
--- @include "offsets"
--- @include "identity"

local base = KEYS[1]
local c = cmsgpack.unpack(ARGV[1])
local ttl = tonumber(ARGV[2])
local offset, breakers = c[1], c[2]
local metaKey, pendKey, outKey = base .. SUFFIX.meta, base .. SUFFIX.pending, base .. SUFFIX.outbox

local hashes, exists = {}, {}
for j = 1, #breakers, 2 do
  local id = breakers[j]
  local h = identityKeyOf(base, redis.sha1hex(id))
  local owner = redis.call('HGET', h, IDENTITY_FIELD.id)
  checkOwner(h, id, owner)
  hashes[j], exists[j] = h, owner ~= false
end

for j = 1, #breakers, 2 do
  local h, snap = hashes[j], breakers[j + 1]
  if snap == '' then
    redis.call('HDEL', h, IDENTITY_FIELD.breaker)
  elseif exists[j] then
    redis.call('HSET', h, IDENTITY_FIELD.breaker, snap)
  else
    redis.call('HSET', h, IDENTITY_FIELD.id, breakers[j], IDENTITY_FIELD.breaker, snap)
    redis.call('PEXPIRE', h, ttl)
    exists[j] = true
  end
end

local meta = redis.call('HMGET', metaKey, META_FIELD.applied, META_FIELD.committed, META_FIELD.next)
local nr = #ARGV - 2
local first = tonumber(meta[3]) or 0
local head = first - redis.call('LLEN', outKey)
if nr > 0 then
  local seq = first
  local entries = {}
  for j = 1, nr do
    -- 0x92: a two-element msgpack array [seq, record]
    entries[j] = '\146' .. cmsgpack.pack(seq) .. ARGV[j + 2]
    seq = seq + 1
  end
  for j = 1, nr, 4000 do
    redis.call('RPUSH', outKey, unpack(entries, j, math.min(j + 3999, nr)))
  end
  redis.call('HSET', metaKey, META_FIELD.next, string.format('%.17g', seq))
end

recordCommitted(metaKey, pendKey, offset, meta[1], meta[2])
return { nr, string.format('%.17g', head), string.format('%.17g', first) }

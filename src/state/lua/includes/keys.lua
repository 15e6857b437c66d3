--[[
  keys.lua: every key suffix and hash field name of the scripts, and the key
  builders. src/state/keys.ts holds the same tables under the same names
  (test/unit/keys.test.ts parses this file to check they agree).

  Keys of a partition, all built from its base key <base> = <prefix>:{p:<partition>},
  so every one shares its hash tag: one slot, Redis Cluster safe. Undeclared
  same-slot keys are used the way BullMQ does.
    <base>:m                   HASH META_FIELD
    <base>:pending             STRING the views of applies not yet committed (offsets.lua)
    <base>:o                   LIST the outbox, entries msgpack [seq, record]
    <base>:f                   HASH per source partition, the highest forwarded
                               offset counted here (apply-1.lua); no expiry, one
                               field per partition of the topic at most
    <base>:i:<sha1(id)>        HASH all of one identity's state but distinct members:
                               IDENTITY_FIELD (identity.lua), then per track
                               <track> .. TRACK_FIELD (counter.lua, seen.lua, distinct.lua)
    <base>:d:<sha1(id)>:<sha1(track)>  SET distinct members of the current bucket
  Field names decompose uniquely: `_id`, `_s`, `_b`; <track> plus `|` and one
  letter; or a seen member, whose name ends in a digit (never in `|` and a
  letter, so no suffix parse takes it for a track field) and whose trailing
  length gives back <track>, hence <member>: no two tracks or members share a
  field, whatever their characters.

  Keys of the class store (class-1.lua), from its base key <prefix>:{c}:
    <base>:k:<sha1(class)>     HASH per class counter key, its packed state
    <base>:a:<sha1(class)>     ZSET the class's identities, score their latest event time

  Every value stays within 64 bytes (a counter's baseline spans several
  fields, counter.lua): one longer value and Redis (hash-max-listpack-value)
  turns the whole hash from a listpack into a hashtable, ~1.5x the memory.
]]

local SUFFIX = {
  meta = ':m',
  pending = ':pending',
  outbox = ':o',
  forwarded = ':f',
  identity = ':i:',
  distinct = ':d:',
}

local META_FIELD = {
  applied = 'applied',
  committed = 'committed',
  next = 'next',
}

local IDENTITY_FIELD = {
  id = '_id',
  state = '_s',
  breaker = '_b',
}

local TRACK_FIELD = {
  counter = '|C',
  baselineHour = '|H',
  baselineSlotsAm = '|E',
  baselineSlotsPm = '|F',
  baselineVarsAm = '|V',
  baselineVarsPm = '|W',
  seenSize = '|S',
  seenMember = '|=',
  distinctBucket = '|B',
  distinctPrev = '|P',
  distinctCount = '|N',
}

local CLASS_SUFFIX = {
  counters = ':k:',
  active = ':a:',
}

local function identityKeyOf(base, idSha)
  return base .. SUFFIX.identity .. idSha
end

-- sha1 of each track key, once per call.
local trackSha = {}
local function distinctKeyOf(base, idSha, track)
  local s = trackSha[track]
  if not s then
    s = redis.sha1hex(track)
    trackSha[track] = s
  end
  return base .. SUFFIX.distinct .. idSha .. ':' .. s
end

local function classKeysOf(base, cls)
  local sha = redis.sha1hex(cls)
  return base .. CLASS_SUFFIX.counters .. sha, base .. CLASS_SUFFIX.active .. sha
end

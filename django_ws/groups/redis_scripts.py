"""The Redis backend's server-side steps, each one Lua script (atomic in Redis).

Keys of a group G (the ``{G}`` hash tag keeps them on one Redis Cluster
slot): ``prefix{G}.meta`` (hash: ``e`` the epoch, ``s`` the latest offset),
``prefix{G}.stream`` (a Stream whose entry ids are the offsets, fields ``d``
the payload and ``t`` the Redis time in ms), ``prefix{G}.presence`` (hash:
connection id -> JSON record) and ``prefix{G}.presence.exp`` (sorted set:
connection id -> expiry, Unix ms). Epoch and offset follow Centrifugo's
streams: a missing meta key means the stream was lost (expired, FLUSHALL,
a restart without persistence), so a new epoch begins at offset 1 and the
old positions are refused.
"""

from __future__ import annotations

__all__ = ["CLAIM_SLOT", "PRESENCE", "PUBLISH", "READ", "SWEEP"]

#: KEYS: meta, stream, channel. ARGV: "publish" or "spublish" (Redis
#: Cluster's sharded pub/sub), payload, history_size, history_ttl (s), a new
#: epoch. Returns {epoch, offset}. The PUBLISH carries "@<epoch>-<offset>\n"
#: before the payload: history and live delivery cannot disagree, as both
#: come from this one step. (The channel is a key, so that a cluster checks
#: that it is on the shard of the others.)
PUBLISH = """
local epoch = redis.call("hget", KEYS[1], "e")
if not epoch then
  epoch = ARGV[5]
  redis.call("del", KEYS[2])
  redis.call("hset", KEYS[1], "e", epoch)
end
local offset = redis.call("hincrby", KEYS[1], "s", 1)
local now = redis.call("time")
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call("xadd", KEYS[2], "MAXLEN", "~", ARGV[3], offset .. "-0", "d", ARGV[2], "t", ms)
redis.call("expire", KEYS[1], ARGV[4])
redis.call("expire", KEYS[2], ARGV[4])
redis.call(ARGV[1], KEYS[3], "@" .. epoch .. "-" .. offset .. "\\n" .. ARGV[2])
return {epoch, offset}
"""

#: KEYS: meta, stream. ARGV: first offset wanted (inclusive), history_ttl
#: (s), a new epoch. Returns {epoch, top, now_ms, entries}. A group without
#: a stream gets its meta (a new epoch, offset 0), so that a member that
#: has received nothing still has a position; not when the new epoch is ""
#: (history() reads: nothing is created), which returns an empty epoch.
READ = """
local epoch = redis.call("hget", KEYS[1], "e")
if not epoch then
  if ARGV[3] == "" then
    return {"", "0", 0, {}}
  end
  epoch = ARGV[3]
  redis.call("del", KEYS[2])
  redis.call("hset", KEYS[1], "e", epoch, "s", 0)
  redis.call("expire", KEYS[1], ARGV[2])
end
local top = redis.call("hget", KEYS[1], "s") or "0"
local now = redis.call("time")
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local entries = redis.call("xrange", KEYS[2], ARGV[1] .. "-0", "+")
return {epoch, top, ms, entries}
"""

# Drops the members whose process stopped refreshing them (their expiry in
# presence.exp is past ARGV[1], Unix ms) and keeps their records in `gone`:
# removed here, in one step, so that exactly one process announces each
# one's leave.
_SWEEP = """
local expired = redis.call("zrangebyscore", KEYS[2], "-inf", ARGV[1])
local gone = {}
for _, id in ipairs(expired) do
  local record = redis.call("hget", KEYS[1], id)
  if record then
    gone[#gone + 1] = record
  end
  redis.call("hdel", KEYS[1], id)
  redis.call("zrem", KEYS[2], id)
end
"""

#: KEYS: presence, presence.exp. ARGV: now (Unix ms). Returns {the expired
#: records, how many members are left}.
SWEEP = _SWEEP + 'return {gone, redis.call("zcard", KEYS[2])}\n'

#: KEYS: presence, presence.exp. ARGV: now (Unix ms). Returns {the expired
#: records, the rest flat (id, record, id, record...)}.
PRESENCE = _SWEEP + 'return {gone, redis.call("hgetall", KEYS[1])}\n'

#: KEYS: a user's slots in one scope (sorted set: slot -> expiry, Unix ms;
#: ``django_ws.groups.user_slots``). ARGV: now (Unix ms), the new slot's
#: expiry, the new slot, the limit, "1" to take the oldest slots to make
#: room (else refuse), the key's TTL (s). Returns {1 if taken else 0, the
#: slots taken to make room}. The expired slots (of a process that stopped
#: refreshing them) go first, so a killed process's count ends with its TTL.
CLAIM_SLOT = """
redis.call("zremrangebyscore", KEYS[1], "-inf", ARGV[1])
local slots = redis.call("zrange", KEYS[1], 0, -1)
local limit = tonumber(ARGV[4])
local replaced = {}
if #slots >= limit then
  if ARGV[5] ~= "1" then
    return {0, replaced}
  end
  table.sort(slots)
  for i = 1, #slots - limit + 1 do
    replaced[#replaced + 1] = slots[i]
    redis.call("zrem", KEYS[1], slots[i])
  end
end
redis.call("zadd", KEYS[1], ARGV[2], ARGV[3])
redis.call("expire", KEYS[1], ARGV[6])
return {1, replaced}
"""

//! The Lua scripts a node runs in Redis, each one atomic there.

/// Claims a name if nobody holds it: set with NX and the TTL, and noted in the node's set.
pub(super) const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
";

/// Releases a name, only if this node holds it.
pub(super) const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
";

/// The heartbeat: the node's load and TTL, and the TTL of every name it still holds;
/// returns whether the node's entry was there (not after Redis restarted, however
/// quickly), and the names it no longer holds (they expired while the node was not heard
/// from, and may be someone else's now). The sessions the node started since its last
/// heartbeat settle as many bookings (`booked` counts the ones not started yet; `settled`
/// is the node's count of sessions started, as last reported).
pub(super) const HEARTBEAT: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local booked = tonumber(redis.call('HGET', KEYS[1], 'booked') or '0')
local settled = tonumber(redis.call('HGET', KEYS[1], 'settled') or '0')
booked = math.max(0, booked - math.max(0, tonumber(ARGV[7]) - settled))
redis.call('HSET', KEYS[1], 'players', ARGV[2], 'sessions', ARGV[3], 'started', ARGV[6],
  'booked', booked, 'settled', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local lost = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[5] .. name
  if redis.call('GET', key) == ARGV[4] then
    redis.call('PEXPIRE', key, ARGV[1])
  else
    redis.call('SREM', KEYS[2], name)
    table.insert(lost, name)
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return {existed, lost}
";

/// Leaves: the node's entry, and every name it holds.
pub(super) const LEAVE: &str = r"
for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[2] .. name
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
";

/// Joins a waiting queue and, if that makes a group, takes it: pushes the entry (unless
/// it is there already, or was taken into a group: marked at `ARGV[5]..entry` for
/// `ARGV[6]` ms), then takes the first `n` entries if there are `n` whose nodes are alive
/// (a dead node's entries are dropped on the way; the calling node is alive), marking
/// them taken. Atomic: of any number of simultaneous arrivals on any nodes, each group is
/// taken once, by one of them, and an entry is in at most one group.
pub(super) const WAIT_IN_QUEUE: &str = r"
if redis.call('EXISTS', ARGV[5] .. ARGV[1]) == 0 and not redis.call('LPOS', KEYS[1], ARGV[1]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
local n = tonumber(ARGV[2])
while redis.call('LLEN', KEYS[1]) >= n do
  local group = redis.call('LRANGE', KEYS[1], 0, n - 1)
  local dead = false
  for _, entry in ipairs(group) do
    local node = string.match(entry, '^[^\n]*')
    if node ~= ARGV[4] and redis.call('EXISTS', ARGV[3] .. node) == 0 then
      redis.call('LREM', KEYS[1], 0, entry)
      dead = true
    end
  end
  if not dead then
    redis.call('LTRIM', KEYS[1], n, -1)
    for _, entry in ipairs(group) do
      redis.call('SET', ARGV[5] .. entry, '1', 'PX', ARGV[6])
    end
    return group
  end
end
return {}
";

/// Books one more session on a node, if it is still alive (never recreating the entry of
/// a node that expired meanwhile). The booking counts until the node's heartbeat reports
/// the session started.
pub(super) const BOOK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'booked', 1)
end
return 0
";

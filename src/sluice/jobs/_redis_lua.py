"""The Lua scripts of the Redis job backend: the shared prelude, and the way in.

Every script gets the key prefix as ``ARGV[1]`` and derives its keys from it
(the layout is described in :mod:`sluice.jobs._redis`). Times arrive as
strings formatted by Python and are stored verbatim: Lua 5.1 prints numbers
with 14 significant digits, which would round a timestamp's microseconds.

The scripts that end or renew a lease are in :mod:`sluice.jobs._redis_lua_lease`.
"""

from __future__ import annotations

__all__ = ["CLAIM", "ENQUEUE", "LIST", "ORD_LENGTH", "POSITION", "PRELUDE"]

# A job's place in line: 10 digits of priority (offset by 2**31, so that
# negative priorities sort first) and 16 digits of its enqueue number. Lane
# members are this string followed by the job id, so byte order is line order.
ORD_LENGTH = 26

PRELUDE = """
local P = ARGV[1]
local GROUP = 'workers'
-- The pseudo-consumer that owns the stream entries of jobs waiting to run
-- again (held back by a cap, handed back, retried, reclaimed): XPENDING per
-- consumer then shows exactly what each live worker is running.
local WAITING = '~waiting'
local ORD = 26

local function key(...)
  return P .. table.concat({...}, ':')
end

local function bump(hash, user, by)
  if user == '' then return 0 end
  local value = redis.call('HINCRBY', hash, user, by)
  if value <= 0 then redis.call('HDEL', hash, user) end
  return value
end

local function set_state(id, n, kind, old, new)
  redis.call('ZREM', key('idx', 'state', old), id)
  redis.call('ZREM', key('idx', 'sk', old, kind), id)
  redis.call('ZADD', key('idx', 'state', new), n, id)
  redis.call('ZADD', key('idx', 'sk', new, kind), n, id)
  redis.call('HSET', key('job', id), 'state', new)
end

local function give_entry(kind, prio, entry, consumer)
  redis.call('XCLAIM', key('stream', kind, prio), GROUP, consumer, 0, entry, 'JUSTID')
end

local function drop_entry(kind, prio, entry)
  local stream = key('stream', kind, prio)
  redis.call('XACK', stream, GROUP, entry)
  redis.call('XDEL', stream, entry)
end

-- Jobs whose run_after has come: into the line again. A job whose entry was
-- never read waits in its stream; one whose entry was read (parked, retried)
-- joins its side lane.
local function move_due(kind, now)
  local delayed = key('delayed', kind)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 500)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local f = redis.call('HMGET', key('job', id), 'ord', 'priority', 'delivered', 'state')
    if f[4] == 'queued' then
      local member = f[1] .. id
      redis.call('ZADD', key('ready', kind), 0, member)
      if f[3] == '1' then redis.call('ZADD', key('side', kind, f[2]), 0, member) end
    end
  end
  return #due
end

-- A running job of this user ended: let held-back jobs into the line, as
-- many as the cap now has room for (the cap last seen by a claim).
local function release_held(kind, user)
  if user == '' then return 0 end
  local cap = tonumber(redis.call('HGET', key('caps'), kind))
  local running = tonumber(redis.call('HGET', key('running', kind), user)) or 0
  local room = 64
  if cap then room = cap - running end
  if room <= 0 then return 0 end
  local popped = redis.call('ZPOPMIN', key('held', kind, user), room)
  for i = 1, #popped, 2 do
    local member = popped[i]
    local prio = redis.call('HGET', key('job', string.sub(member, ORD + 1)), 'priority')
    redis.call('ZADD', key('side', kind, prio), 0, member)
  end
  return #popped / 2
end
"""

# ARGV: prefix, now, then 11 per job: id, kind, payload, user ('' none),
# priority, priority code, dedupe ('' none, else '=' .. key), max_attempts,
# timeout, run_after, queued_cap ('' none).
# Returns, JSON-encoded, id and created (1/0) per job; a job refused by its
# queued cap ends the reply with '!full' and its index (jobs before it are
# stored). Replies are JSON because one string parses far faster on the
# Python side than thousands of RESP items (cjson encodes an empty list as {}).
ENQUEUE = """
local now = ARGV[2]
local nowf = tonumber(now)
local out = {}
local woke = false
for i = 3, #ARGV, 11 do
  local id, kind, payload, user, prio, code, dedupe, max_attempts, timeout, run_after, qcap =
    unpack(ARGV, i, i + 10)
  local existing = false
  if dedupe ~= '' then
    existing = redis.call('HGET', key('dedupe', kind), string.sub(dedupe, 2))
  end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 0
  else
    if qcap ~= '' and user ~= '' then
      local waiting = tonumber(redis.call('HGET', key('queued', kind), user)) or 0
      if waiting >= tonumber(qcap) then
        out[#out + 1] = '!full'
        out[#out + 1] = (i - 3) / 11
        break
      end
    end
    local n = redis.call('INCR', key('seq'))
    local ord = code .. string.format('%016d', n)
    local stream = key('stream', kind, prio)
    if redis.call('EXISTS', stream) == 0 then
      redis.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
      redis.call('ZADD', key('prios', kind), prio, prio)
      redis.call('SADD', key('streams'), stream)
    end
    local entry = redis.call('XADD', stream, '*', 'job', id, 'ord', ord)
    redis.call('HSET', key('job', id), 'id', id, 'kind', kind, 'payload', payload,
      'user', user, 'priority', prio, 'dedupe', dedupe, 'attempts', 0,
      'max_attempts', max_attempts, 'timeout', timeout, 'run_after', run_after,
      'progress', 0, 'progress_text', '', 'cancel', 0, 'created_at', now,
      'state', 'queued', 'n', n, 'ord', ord, 'entry', entry, 'delivered', 0)
    redis.call('ZADD', key('idx', 'all'), n, id)
    redis.call('ZADD', key('idx', 'kind', kind), n, id)
    redis.call('ZADD', key('idx', 'state', 'queued'), n, id)
    redis.call('ZADD', key('idx', 'sk', 'queued', kind), n, id)
    if user ~= '' then
      redis.call('ZADD', key('idx', 'user', user), n, id)
      redis.call('ZADD', key('live', user), n, id)
      bump(key('queued', kind), user, 1)
    end
    if tonumber(run_after) > nowf then
      redis.call('ZADD', key('delayed', kind), run_after, id)
    else
      redis.call('ZADD', key('ready', kind), 0, ord .. id)
      woke = true
    end
    if dedupe ~= '' then
      redis.call('HSET', key('dedupe', kind), string.sub(dedupe, 2), id)
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
end
if woke then redis.call('PUBLISH', key('work'), '') end
return cjson.encode(out)
"""

# ARGV: prefix, worker, now, lease_until, limit, budget, then pairs of kind,
# running cap ('' none). Returns the taken jobs, each as HGETALL pairs, in JSON.
#
# Each priority, lowest first, merges the heads of its lanes (per kind: the
# stream's next unread entry and the side lane's first member) by place in
# line. What a stream yields is a prefix of its unread entries, delivered
# at the end with one XREADGROUP; jobs it yields that cannot run yet (not
# due, or their user at the cap) pass to the WAITING consumer. ``budget``
# bounds the entries one call looks at, so a long run of held-back jobs
# never blocks the server: the call then announces work, and the worker
# comes straight back for more.
#
# While other workers of these kinds are present, ``limit`` is first cut to
# the fair share (see JobBackend.claim): running jobs are counted by the
# state index, claimable ones by the ready set, and this worker's own by
# its pending entries (its PEL holds exactly the jobs it runs).
CLAIM = """
local worker, now, lease_until = ARGV[2], ARGV[3], ARGV[4]
local nowf = tonumber(now)
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local caps, kinds = {}, {}
for j = 7, #ARGV, 2 do
  local kind, cap = ARGV[j], ARGV[j + 1]
  kinds[#kinds + 1] = kind
  if cap == '' then
    redis.call('HDEL', key('caps'), kind)
  else
    caps[kind] = tonumber(cap)
    redis.call('HSET', key('caps'), kind, cap)
  end
  move_due(kind, now)
end

local function fair_limit()
  local others, live = {}, 1
  for _, kind in ipairs(kinds) do
    for _, other in ipairs(redis.call('ZRANGEBYSCORE', key('presence', kind), now, '+inf')) do
      if other ~= worker and not others[other] then
        others[other] = true
        live = live + 1
      end
    end
  end
  if live == 1 then return limit end
  local total, mine = 0, 0
  for _, kind in ipairs(kinds) do
    total = total + redis.call('ZCARD', key('idx', 'sk', 'running', kind))
      + redis.call('ZCARD', key('ready', kind))
    for _, prio in ipairs(redis.call('ZRANGE', key('prios', kind), 0, -1)) do
      local consumers = redis.call('XPENDING', key('stream', kind, prio), GROUP)[4]
      for _, consumer in ipairs(consumers or {}) do
        if consumer[1] == worker then mine = mine + tonumber(consumer[2]) end
      end
    end
  end
  local share = math.max(1, math.ceil(total / live))
  return math.max(0, math.min(limit, share - mine))
end
limit = fair_limit()

local by_prio, prios = {}, {}
for _, kind in ipairs(kinds) do
  for _, prio in ipairs(redis.call('ZRANGE', key('prios', kind), 0, -1)) do
    if not by_prio[prio] then
      by_prio[prio] = {}
      prios[#prios + 1] = prio
    end
    table.insert(by_prio[prio], kind)
  end
end
table.sort(prios, function(a, b) return tonumber(a) < tonumber(b) end)

local function last_read(stream)
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for j = 1, #group, 2 do
      if group[j] == 'name' then name = group[j + 1] end
      if group[j] == 'last-delivered-id' then last = group[j + 1] end
    end
    if name == GROUP then return last end
  end
  return '0-0'
end

local taken = {}
-- 'take', 'hold', 'park' (not due) or 'gone' (no longer queued).
local function consider(id, kind, from_stream, stream)
  local jk = key('job', id)
  local f = redis.call('HMGET', jk, 'state', 'user', 'run_after', 'ord', 'n', 'entry', 'started_at')
  if f[1] ~= 'queued' then return 'gone' end
  local member = f[4] .. id
  if from_stream and tonumber(f[3]) > nowf then
    redis.call('ZADD', key('delayed', kind), f[3], id)
    redis.call('HSET', jk, 'delivered', 1)
    return 'park'
  end
  local user, cap = f[2], caps[kind]
  if cap and user ~= '' then
    local running = tonumber(redis.call('HGET', key('running', kind), user)) or 0
    if running >= cap then
      redis.call('ZADD', key('held', kind, user), 0, member)
      redis.call('HSET', jk, 'delivered', 1)
      return 'hold'
    end
  end
  bump(key('running', kind), user, 1)
  bump(key('queued', kind), user, -1)
  redis.call('ZREM', key('ready', kind), member)
  set_state(id, f[5], kind, 'queued', 'running')
  redis.call('HINCRBY', jk, 'attempts', 1)
  redis.call('HSET', jk, 'worker', worker, 'lease_until', lease_until, 'delivered', 1)
  if not f[7] then redis.call('HSET', jk, 'started_at', now) end
  redis.call('ZADD', key('leases'), lease_until, id)
  if not from_stream then
    redis.call('XCLAIM', stream, GROUP, worker, 0, f[6], 'JUSTID')
  end
  taken[#taken + 1] = redis.call('HGETALL', jk)
  return 'take'
end

for _, prio in ipairs(prios) do
  if #taken >= limit or budget <= 0 then break end
  local lanes = {}
  for _, kind in ipairs(by_prio[prio]) do
    local stream = key('stream', kind, prio)
    lanes[#lanes + 1] = {kind = kind, stream = stream, side = key('side', kind, prio),
      cursor = last_read(stream), buf = {}, pos = 1, last = false, read = 0, waiting = {},
      gone = {}}
  end
  while #taken < limit and budget > 0 do
    local best, best_ord, from_stream = nil, nil, false
    for _, lane in ipairs(lanes) do
      if lane.head == nil then
        lane.head = redis.call('ZRANGE', lane.side, 0, 0)[1] or false
      end
      if lane.head then
        local ord = string.sub(lane.head, 1, ORD)
        if best_ord == nil or ord < best_ord then best, best_ord, from_stream = lane, ord, false end
      end
      if lane.pos > #lane.buf and not lane.last then
        local count = limit + 32
        lane.buf = redis.call('XRANGE', lane.stream, '(' .. lane.cursor, '+', 'COUNT', count)
        lane.pos = 1
        lane.last = #lane.buf < count
      end
      local entry = lane.buf[lane.pos]
      if entry and (best_ord == nil or entry[2][4] < best_ord) then
        best, best_ord, from_stream = lane, entry[2][4], true
      end
    end
    if not best then break end
    budget = budget - 1
    if from_stream then
      local entry = best.buf[best.pos]
      best.pos = best.pos + 1
      best.cursor = entry[1]
      best.read = best.read + 1
      local outcome = consider(entry[2][2], best.kind, true, best.stream)
      if outcome == 'gone' then
        best.gone[#best.gone + 1] = entry[1]
      elseif outcome ~= 'take' then
        best.waiting[#best.waiting + 1] = entry[1]
      end
    else
      redis.call('ZREM', best.side, best.head)
      local id = string.sub(best.head, ORD + 1)
      best.head = nil
      consider(id, best.kind, false, best.stream)
    end
  end
  for _, lane in ipairs(lanes) do
    if lane.read > 0 then
      redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', lane.read,
        'STREAMS', lane.stream, '>')
      for _, entry in ipairs(lane.waiting) do
        redis.call('XCLAIM', lane.stream, GROUP, WAITING, 0, entry, 'JUSTID')
      end
      for _, entry in ipairs(lane.gone) do
        redis.call('XACK', lane.stream, GROUP, entry)
        redis.call('XDEL', lane.stream, entry)
      end
    end
  end
end
if budget <= 0 and #taken < limit then redis.call('PUBLISH', key('work'), '') end
return cjson.encode(taken)
"""

# ARGV: prefix, job id, now. How many queued, due jobs of its kind come
# before it; -1 if it is not queued.
POSITION = """
local f = redis.call('HMGET', key('job', ARGV[2]), 'state', 'kind', 'ord')
if f[1] ~= 'queued' then return -1 end
move_due(f[2], ARGV[3])
return redis.call('ZLEXCOUNT', key('ready', f[2]), '-', '(' .. f[3] .. ARGV[2])
"""

# ARGV: prefix, index key suffix, user, state, kind ('' for no filter), limit.
# Newest first: walks the most selective index, checking the other filters.
# Returns the jobs' HGETALL pairs, in JSON.
LIST = """
local index = P .. ARGV[2]
local user, state, kind, limit = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local out, start, chunk = {}, 0, math.max(limit, 100)
while #out < limit do
  local ids = redis.call('ZREVRANGE', index, start, start + chunk - 1)
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', key('job', id), 'user', 'state', 'kind')
    if (user == '' or f[1] == user) and (state == '' or f[2] == state)
        and (kind == '' or f[3] == kind) then
      out[#out + 1] = redis.call('HGETALL', key('job', id))
      if #out >= limit then break end
    end
  end
  if #ids < chunk then break end
  start = start + chunk
end
return cjson.encode(out)
"""

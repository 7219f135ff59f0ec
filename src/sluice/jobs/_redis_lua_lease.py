"""The Lua scripts of the Redis job backend that renew or end a lease, keep
workers' presence, and cancel.

Each runs after :data:`~sluice.jobs._redis_lua.PRELUDE`. Only the lease
holder may record an outcome, retry or hand a job back: every such script
first checks that the job is RUNNING under the worker that asks.
"""

from __future__ import annotations

__all__ = [
    "CANCEL",
    "CANCEL_USER",
    "FINISH",
    "HEARTBEAT",
    "LEAVE",
    "PROGRESS",
    "RECLAIM",
    "RELEASE",
    "RENEW",
    "RETRY",
]

# ARGV: prefix, worker, lease_until, job ids. Returns the ids to stop.
# XCLAIM ... JUSTID resets each entry's idle time, so XPENDING shows how
# long ago a worker last renewed. A job the worker itself let go (finished,
# retried, handed back: ``left_by``) is not named: its run is already
# ending, and stopping it now would record the outcome twice.
RENEW = """
local worker, lease_until = ARGV[2], ARGV[3]
local stop, renewed = {}, {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', key('job', id), 'state', 'worker', 'cancel', 'kind', 'priority',
    'entry', 'left_by')
  if f[7] == worker and f[2] ~= worker then
    -- let go by this worker and not taken by it again: nothing to stop
  elseif f[1] == 'running' and f[2] == worker then
    redis.call('HSET', key('job', id), 'lease_until', lease_until)
    redis.call('ZADD', key('leases'), lease_until, id)
    local stream = key('stream', f[4], f[5])
    renewed[stream] = renewed[stream] or {}
    table.insert(renewed[stream], f[6])
    if f[3] == '1' then stop[#stop + 1] = id end
  else
    stop[#stop + 1] = id
  end
end
for stream, entries in pairs(renewed) do
  local args = {'XCLAIM', stream, GROUP, worker, 0}
  for _, entry in ipairs(entries) do args[#args + 1] = entry end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
end
return stop
"""

# The shared opening of the scripts the lease holder calls: f holds the
# job's fields, or the script returns 0 when the caller does not hold it.
_HOLDER = """
local function held_by(id, worker, lost)
  local f = redis.call('HMGET', key('job', id), 'state', 'worker', 'kind', 'user', 'priority',
    'entry', 'n', 'ord', 'attempts')
  if f[1] ~= 'running' or f[2] ~= worker then return nil end
  -- A lost lease was not let go: its worker must still be told to stop.
  local left_by = worker
  if lost then left_by = '' end
  redis.call('HSET', key('job', id), 'worker', '', 'lease_until', '', 'left_by', left_by)
  redis.call('ZREM', key('leases'), id)
  return f
end

local function wake(kind, user)
  if release_held(kind, user) > 0 then redis.call('PUBLISH', key('work'), '') end
end
"""

# ARGV: prefix, then 6 per job: id, worker, state, now, result JSON,
# error ('' none, else '=' .. text). Returns 1/0 per job.
FINISH = (
    _HOLDER
    + """
local out = {}
for i = 2, #ARGV, 6 do
  local id, worker, state, now, result, err = unpack(ARGV, i, i + 5)
  local f = held_by(id, worker)
  if f then
    local jk = key('job', id)
    redis.call('HSET', jk, 'finished_at', now, 'result', result)
    if err == '' then
      redis.call('HDEL', jk, 'error')
    else
      redis.call('HSET', jk, 'error', string.sub(err, 2))
    end
    set_state(id, f[7], f[3], 'running', state)
    drop_entry(f[3], f[5], f[6])
    if f[4] ~= '' then
      redis.call('ZREM', key('live', f[4]), id)
      bump(key('running', f[3]), f[4], -1)
      wake(f[3], f[4])
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""
)

# The lease holder gives the job back to the line, its entry to WAITING.
_REQUEUE = """
local function requeue(id, f, into_line)
  set_state(id, f[7], f[3], 'running', 'queued')
  give_entry(f[3], f[5], f[6], WAITING)
  bump(key('running', f[3]), f[4], -1)
  bump(key('queued', f[3]), f[4], 1)
  if into_line then
    redis.call('ZADD', key('ready', f[3]), 0, f[8] .. id)
    redis.call('ZADD', key('side', f[3], f[5]), 0, f[8] .. id)
  end
  release_held(f[3], f[4])
end
"""

# ARGV: prefix, id, worker, now, error, run_after. Returns 1/0.
RETRY = (
    _HOLDER
    + _REQUEUE
    + """
local id, worker, now, err, run_after = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = held_by(id, worker)
if not f then return 0 end
redis.call('HSET', key('job', id), 'error', err, 'run_after', run_after)
requeue(id, f, false)
redis.call('ZADD', key('delayed', f[3]), run_after, id)
if tonumber(run_after) <= tonumber(now) then move_due(f[3], now) end
redis.call('PUBLISH', key('work'), '')
return 1
"""
)

# ARGV: prefix, id, worker, now. Returns 1/0. The consumer goes once it
# owns nothing more in this stream: a stopping worker leaves no trace.
RELEASE = (
    _HOLDER
    + _REQUEUE
    + """
local id, worker = ARGV[2], ARGV[3]
local f = held_by(id, worker)
if not f then return 0 end
local attempts = redis.call('HINCRBY', key('job', id), 'attempts', -1)
if attempts <= 0 then redis.call('HDEL', key('job', id), 'started_at') end
requeue(id, f, true)
local stream = key('stream', f[3], f[5])
if #redis.call('XPENDING', stream, GROUP, '-', '+', 1, worker) == 0 then
  redis.call('XGROUP', 'DELCONSUMER', stream, GROUP, worker)
end
redis.call('PUBLISH', key('work'), '')
return 1
"""
)

# ARGV: prefix, now, reason when a lease expired, reason when a presence
# lapsed. Jobs whose lease ended before now, and every job of a worker whose
# presence lapsed before now: queued again with their entry passed from the
# dead consumer to WAITING, or failed when out of attempts. Returns their
# ids. Lapsed presences are forgotten: their jobs are back in line.
RECLAIM = (
    _HOLDER
    + _REQUEUE
    + """
local now, expired, silent = ARGV[2], ARGV[3], ARGV[4]
local out, dead = {}, {}
local ids = redis.call('ZRANGEBYSCORE', key('leases'), '-inf', '(' .. now, 'LIMIT', 0, 500)
local reasons = {}
for _, id in ipairs(ids) do reasons[id] = expired end
local lapsed = redis.call('ZRANGEBYSCORE', key('presence'), '-inf', '(' .. now)
if #lapsed > 0 then
  local gone = {}
  for _, worker in ipairs(lapsed) do gone[worker] = true end
  for _, id in ipairs(redis.call('ZRANGE', key('leases'), 0, -1)) do
    if not reasons[id] and gone[redis.call('HGET', key('job', id), 'worker')] then
      ids[#ids + 1] = id
      reasons[id] = silent
    end
  end
  redis.call('ZREMRANGEBYSCORE', key('presence'), '-inf', '(' .. now)
end
for _, kind in ipairs(redis.call('SMEMBERS', key('presence-kinds'))) do
  redis.call('ZREMRANGEBYSCORE', key('presence', kind), '-inf', '(' .. now)
end
for _, id in ipairs(ids) do
  local owner = redis.call('HGET', key('job', id), 'worker')
  local f = owner and held_by(id, owner, true)
  if not f then
    redis.call('ZREM', key('leases'), id)
  else
    local max_attempts = tonumber(redis.call('HGET', key('job', id), 'max_attempts'))
    if tonumber(f[9]) >= max_attempts then
      redis.call('HSET', key('job', id), 'finished_at', now,
        'error', string.format(reasons[id], tonumber(f[9])))
      set_state(id, f[7], f[3], 'running', 'failed')
      drop_entry(f[3], f[5], f[6])
      if f[4] ~= '' then redis.call('ZREM', key('live', f[4]), id) end
      bump(key('running', f[3]), f[4], -1)
      release_held(f[3], f[4])
    else
      requeue(id, f, true)
    end
    dead[key('stream', f[3], f[5]) .. '\\0' .. owner] = {key('stream', f[3], f[5]), owner}
    out[#out + 1] = id
  end
end
for _, pair in pairs(dead) do
  if #redis.call('XPENDING', pair[1], GROUP, '-', '+', 1, pair[2]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', pair[1], GROUP, pair[2])
  end
end
-- Workers that stopped owning nothing leave a consumer behind: forget those
-- idle for an hour (a live one is recreated by its next read).
for _, stream in ipairs(redis.call('SMEMBERS', key('streams'))) do
  for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', stream, GROUP)) do
    local name, pending, idle
    for j = 1, #consumer, 2 do
      if consumer[j] == 'name' then name = consumer[j + 1] end
      if consumer[j] == 'pending' then pending = consumer[j + 1] end
      if consumer[j] == 'idle' then idle = consumer[j + 1] end
    end
    if pending == 0 and idle > 3600000 and name ~= WAITING then
      redis.call('XGROUP', 'DELCONSUMER', stream, GROUP, name)
    end
  end
end
if #out > 0 then redis.call('PUBLISH', key('work'), '') end
return out
"""
)

# ARGV: prefix, worker, alive_until, the kinds it runs. ``presence`` orders
# every worker by the end of its presence; ``presence:<kind>`` those of a
# kind, for the fair share of a claim.
HEARTBEAT = """
local worker, alive_until = ARGV[2], ARGV[3]
if #ARGV < 4 then return 0 end  -- a worker of no kind shares nothing
redis.call('ZADD', key('presence'), alive_until, worker)
for i = 4, #ARGV do
  redis.call('SADD', key('presence-kinds'), ARGV[i])
  redis.call('ZADD', key('presence', ARGV[i]), alive_until, worker)
end
return 0
"""

# ARGV: prefix, worker. Its presence ends now; the others hear of work to
# take, their share having grown.
LEAVE = """
local worker = ARGV[2]
redis.call('ZREM', key('presence'), worker)
for _, kind in ipairs(redis.call('SMEMBERS', key('presence-kinds'))) do
  redis.call('ZREM', key('presence', kind), worker)
end
redis.call('PUBLISH', key('work'), '')
return 0
"""

_CANCEL_ONE = """
-- QUEUED: cancelled here and now. RUNNING: flagged, and announced on the
-- cancel channel so its worker hears of it before its next renewal.
local function cancel_one(id, now)
  local jk = key('job', id)
  local f = redis.call('HMGET', jk, 'state', 'kind', 'user', 'priority', 'entry', 'n', 'ord')
  if not f[1] then return nil end
  local kind, user = f[2], f[3]
  if f[1] == 'queued' then
    local member = f[7] .. id
    redis.call('ZREM', key('ready', kind), member)
    redis.call('ZREM', key('side', kind, f[4]), member)
    redis.call('ZREM', key('delayed', kind), id)
    if user ~= '' then
      redis.call('ZREM', key('held', kind, user), member)
      redis.call('ZREM', key('live', user), id)
      bump(key('queued', kind), user, -1)
    end
    drop_entry(kind, f[4], f[5])
    set_state(id, f[6], kind, 'queued', 'cancelled')
    redis.call('HSET', jk, 'cancel', 1, 'finished_at', now)
  elseif f[1] == 'running' then
    redis.call('HSET', jk, 'cancel', 1)
    redis.call('PUBLISH', key('cancel'), id)
  end
  return f[1]
end
"""

# ARGV: prefix, id, now. Returns the job's HGETALL pairs afterwards, or nil.
CANCEL = (
    _CANCEL_ONE
    + """
if not cancel_one(ARGV[2], ARGV[3]) then return nil end
return redis.call('HGETALL', key('job', ARGV[2]))
"""
)

# ARGV: prefix, user, now. Returns the ids of the jobs that were queued or running.
CANCEL_USER = (
    _CANCEL_ONE
    + """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', key('live', ARGV[2]), 0, -1)) do
  local state = cancel_one(id, ARGV[3])
  if state == 'queued' or state == 'running' then out[#out + 1] = id end
end
return out
"""
)

# ARGV: prefix, id, fraction, text. Only a running job's progress is recorded.
PROGRESS = """
if redis.call('HGET', key('job', ARGV[2]), 'state') == 'running' then
  redis.call('HSET', key('job', ARGV[2]), 'progress', ARGV[3], 'progress_text', ARGV[4])
end
return 0
"""

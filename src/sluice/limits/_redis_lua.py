"""The Lua scripts of :class:`~sluice.limits.RedisLimiter`: the limit model of
:class:`~sluice.limits.MemoryLimiter`, run by Redis on its own clock."""

from __future__ import annotations

__all__ = ["ACQUIRE", "CONFIRM", "FLOOD"]

# Keys, under the prefix: w:<scope> a window (sorted set of sends, scored by their
# answer's time, or far ahead while in flight), tat:<scope> its broadcasts' pacing
# (GCRA) and tato:<scope> the other sends', rate:<scope> an adaptive rate (f factor,
# h hold, c changed, p probing): of a bot
# (<bot>), of what it learned of its private chats' burst and groups' count
# (<bot>#private, <bot>#group), of a chat's count or burst (<chat>#n) and a
# private chat's rate (<chat>#r); flood:<bot> and flood:<chat> closed until they
# expire, unexplained:<bot> the recent 429s no chat explains, paused:<bot> the
# reason, health:<bot> counters, hot:<bot> a non-bulk send asked lately,
# alive:<process> heartbeats. A bot scope is <bot> or <bot>:paid; a chat's, <bot>:<chat>.
_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local function rate_get(scope, step)
  -- An adaptive rate's factor, a step back up once it was quiet for its hold.
  local key = prefix .. 'rate:' .. scope
  local v = redis.call('HMGET', key, 'f', 'h', 'c')
  local f = tonumber(v[1])
  if not f then return 1 end
  if f < 1 and now - tonumber(v[3]) >= tonumber(v[2]) then
    f = math.min(1, f + step)
    redis.call('HSET', key, 'f', tostring(f), 'c', now, 'p', 1)
  end
  return f
end
local function chat_shape(account, chat, kind, c)
  -- A private chat's burst and period (its bucket), a group's count and window; each
  -- as the account learned its kind, and as the chat was cut.
  local learned = account .. (kind == 'p' and '#private' or '#group')
  local share = math.min(rate_get(learned, c.step), rate_get(chat .. '#n', c.step))
  if kind == 'p' then
    local burst = math.max(1, math.floor(c.pb * share + 1e-9))
    return burst, c.per / rate_get(chat .. '#r', c.step) + c.margin
  end
  return math.max(1, math.floor(c.gc * share + 1e-9)), c.gw + c.margin
end
local function bucket_flying(key)
  -- The send in flight in a private chat's bucket, unless its process died.
  local m = redis.call('HGET', key, 'm')
  if not m then return nil end
  local owner = string.match(m, '^(.*):[^:]*$')
  if owner and redis.call('EXISTS', prefix .. 'alive:' .. owner) == 0 then
    redis.call('HDEL', key, 'm')
    return nil
  end
  return m
end
local function config(from)
  return {step = tonumber(ARGV[from]), pb = tonumber(ARGV[from + 1]),
          per = tonumber(ARGV[from + 2]), gc = tonumber(ARGV[from + 3]),
          gw = tonumber(ARGV[from + 4]), margin = tonumber(ARGV[from + 5])}
end
"""

# ARGV: prefix, in_flight_ttl_ms, lookahead_ms, headroom, then the chats' config
# (step, private burst, ms per private send, group count, group window ms, margin ms),
# then per request 8 values: member, bot scope, count, window_ms, burst, bulk (0/1),
# chat scope ('' = none), chat kind ('p' private, 'g' group).
# Returns two numbers per request: a code and milliseconds: 0 admitted after a delay;
# 1 the account waits, 4 until an answer in flight (at the earliest); 3 the chat
# waits, 5 until an answer in flight; 2 the account is paused.
ACQUIRE = (
    _COMMON
    + """
local ttl, ahead, headroom = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local c = config(5)
local out = {}
local function drop_dead(key)
  -- In-flight entries of a process whose heartbeat lapsed: it died before the answer.
  local flying = redis.call('ZRANGEBYSCORE', key, '(' .. (now + 1), '+inf')
  for _, member in ipairs(flying) do
    local owner = string.match(member, '^(.*):[^:]*$')
    if redis.call('EXISTS', prefix .. 'alive:' .. owner) == 0 then
      redis.call('ZREM', key, member)
    end
  end
end
local function opens(key, count, window)
  -- When the window has room for one more: now, or a confirmed entry's departure;
  -- true and the earliest it may be while an entry in flight (scored its start +
  -- ttl) must be answered first: its start + the window, a tenth of it from now at least.
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= count then
    drop_dead(key)
    n = redis.call('ZCARD', key)
  end
  if n < count then return now, false end
  local e = redis.call('ZRANGE', key, n - count, n - count, 'WITHSCORES')
  local score = tonumber(e[2])
  if score > now + 1 then return math.max(score - ttl + window, now + window / 10), true end
  return score + window, false
end
local function fits_now(key, count, window)
  -- Whether a send other than a broadcast's may start now, in the room between sends
  -- booked ahead: every window that will hold it stays within count. An entry in
  -- flight (scored its start + ttl) counts from its start on; an answered one (scored
  -- its answer) until a window after. The same rule as SlidingWindow.fits_now.
  local all = redis.call('ZRANGEBYSCORE', key, '(' .. (now - window), '+inf', 'WITHSCORES')
  local leaves, later, n = {}, {}, 0
  for j = 2, #all, 2 do
    local score = tonumber(all[j])
    if score > now + 1 then
      local start = score - ttl
      if start <= now then n = n + 1 else later[#later + 1] = start end
    else
      n = n + 1
      leaves[#leaves + 1] = score + window
    end
  end
  if n + 1 > count then return false end
  table.sort(leaves)
  table.sort(later)
  local gone = 1
  for _, start in ipairs(later) do
    while leaves[gone] and leaves[gone] <= start do
      gone = gone + 1
      n = n - 1
    end
    n = n + 1
    if n + 1 > count then return false end
  end
  return true
end
local i = 11
while i <= #ARGV do
  local member, bot = ARGV[i], ARGV[i + 1]
  local count, window, burst = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local bulk = ARGV[i + 5] == '1'
  local chat, kind = ARGV[i + 6], ARGV[i + 7]
  local account = string.match(bot, '^[^:]*')
  local hot = prefix .. 'hot:' .. account
  i = i + 8
  if redis.call('EXISTS', prefix .. 'paused:' .. account) == 1 then
    out[#out + 1] = 2
    out[#out + 1] = 0
  else
    local code, ms = nil, 0
    -- A send other than a broadcast's asked: broadcasts leave room from now on, even
    -- if this one must wait (marking only admitted ones, a full window never would).
    if not bulk then redis.call('SET', hot, '1', 'PX', math.ceil(10 * window)) end
    local ready = now + math.max(0, redis.call('PTTL', prefix .. 'flood:' .. account))
    local n = math.max(1, math.floor(count * rate_get(bot, c.step) + 1e-9))
    -- Each send moves the pace on by a full window's share, as the memory backend does.
    local step = window / n
    if bulk and redis.call('EXISTS', hot) == 1 then n = math.max(1, n - headroom) end
    local interval = window / n
    -- Broadcasts and the rest keep separate paces (see SlidingWindow).
    local tat_key = prefix .. (bulk and 'tat:' or 'tato:') .. bot
    local tat = tonumber(redis.call('GET', tat_key) or '0')
    ready = math.max(ready, tat - (math.min(burst, n) - 1) * interval)
    local at, flying = opens(prefix .. 'w:' .. bot, n, window)
    if not bulk and (flying or at > now) and ready <= now
        and fits_now(prefix .. 'w:' .. bot, n, window) then
      at, flying = now, false  -- a reply, in the room a broadcast booked ahead leaves
    end
    if flying then
      code, ms = 4, at - now
    else
      ready = math.max(ready, at)
      if ready - now > ahead then code, ms = 1, ready - now - ahead end
    end
    local chat_n, chat_window = 0, 0
    if not code and chat ~= '' then
      local chat_ready = now + math.max(0, redis.call('PTTL', prefix .. 'flood:' .. chat))
      chat_n, chat_window = chat_shape(account, chat, kind, c)
      if kind == 'p' then
        -- A bucket (GCRA): one in flight; then its burst from the latest answer.
        local bkey = prefix .. 'b:' .. chat
        if bucket_flying(bkey) then
          flying, at = true, now + chat_window
        else
          local btat = tonumber(redis.call('HGET', bkey, 't') or '0')
          flying, at = false, math.max(now, btat - (chat_n - 1) * chat_window)
        end
      else
        at, flying = opens(prefix .. 'w:' .. chat, chat_n, chat_window)
      end
      if flying then
        code, ms = 5, at - now
      else
        chat_ready = math.max(chat_ready, at)
        if chat_ready - now > ahead then
          code, ms = 3, chat_ready - now - ahead
        else
          ready = math.max(ready, chat_ready)
        end
      end
    end
    if code then
      out[#out + 1] = code
      out[#out + 1] = math.max(1, math.ceil(ms))
    else
      redis.call('ZADD', prefix .. 'w:' .. bot, ready + ttl, member)
      redis.call('PEXPIRE', prefix .. 'w:' .. bot, window + ttl + ahead)
      local next_tat = string.format('%.3f', math.max(tat, ready) + step)
      redis.call('SET', tat_key, next_tat, 'PX', math.ceil(window + ahead))
      if kind == 'p' then
        local bkey = prefix .. 'b:' .. chat
        redis.call('HSET', bkey, 'm', member, 'p', chat_window)
        redis.call('PEXPIRE', bkey, math.ceil(ttl + chat_n * chat_window + ahead))
      elseif chat ~= '' then
        redis.call('ZADD', prefix .. 'w:' .. chat, ready + ttl, member)
        redis.call('PEXPIRE', prefix .. 'w:' .. chat, math.ceil(chat_window + ttl + ahead))
      end
      redis.call('HINCRBY', prefix .. 'health:' .. account, 'requests', 1)
      out[#out + 1] = 0
      out[#out + 1] = math.ceil(ready - now)
    end
  end
end
return out
"""
)

# ARGV: prefix, then per entry: member, bot scope, chat scope ('' = none), chat kind,
# result ('ok' counted and answered, 'failed' counted, 'refused' not counted: a 429).
CONFIRM = (
    _COMMON
    + """
local i = 2
while i <= #ARGV do
  local member, bot, chat, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local result = ARGV[i + 4]
  local account = string.match(bot, '^[^:]*')
  i = i + 5
  if kind == 'p' then
    -- The bucket's send came back: counted, its slot is renewed from now.
    local bkey = prefix .. 'b:' .. chat
    local v = redis.call('HMGET', bkey, 'm', 't', 'p')
    if v[1] == member then
      redis.call('HDEL', bkey, 'm')
      if result ~= 'refused' then
        local btat = math.max(tonumber(v[2]) or 0, now) + tonumber(v[3])
        redis.call('HSET', bkey, 't', btat)
      end
    end
  end
  for _, scope in ipairs({bot, kind == 'p' and '' or chat}) do
    if scope ~= '' then
      local key = prefix .. 'w:' .. scope
      if result == 'refused' then
        redis.call('ZREM', key, member)
      else
        redis.call('ZADD', key, 'XX', now + 1, member)
      end
    end
  end
  if result == 'ok' then
    redis.call('HINCRBY', prefix .. 'health:' .. account, 'successes', 1)
  elseif result == 'failed' then
    redis.call('HINCRBY', prefix .. 'health:' .. account, 'failures', 1)
  end
end
return now
"""
)

# ARGV: prefix, then the chats' config (6 values, as for acquire), then: bot, chat
# scope ('' = none), chat kind, retry_after ms, account_wide (0/1), escalate_after,
# escalate_window ms, escalate_share, bot_count, bot window ms (unguarded), bot span
# ms (as its window counts), hold ms, max hold ms, decrease, floor, the refused send's
# member ('' = unknown) and its bot scope.
# Returns {account closed (0/1), milliseconds until the closed scope reopens}.
FLOOD = (
    _COMMON
    + """
local c = config(2)
local bot, chat, kind, retry = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local wide, after, span = ARGV[12] == '1', tonumber(ARGV[13]), tonumber(ARGV[14])
local share, bot_count = tonumber(ARGV[15]), tonumber(ARGV[16])
local bot_window, bot_span = tonumber(ARGV[17]), tonumber(ARGV[18])
local cut_cfg = {hold = tonumber(ARGV[19]), max_hold = tonumber(ARGV[20]),
                 decrease = tonumber(ARGV[21]), floor = tonumber(ARGV[22])}
local refused, own = ARGV[23], ARGV[24]
if refused ~= '' then
  -- The refused send counts for nothing (its confirm may still be on its way).
  redis.call('ZREM', prefix .. 'w:' .. own, refused)
  if chat ~= '' then redis.call('ZREM', prefix .. 'w:' .. chat, refused) end
  if kind == 'p' and redis.call('HGET', prefix .. 'b:' .. chat, 'm') == refused then
    redis.call('HDEL', prefix .. 'b:' .. chat, 'm')
  end
end
local till = now + retry
local function close(key, at)
  local left = redis.call('PTTL', key)
  if left < 0 or now + left < at then redis.call('SET', key, '1', 'PX', math.max(1, at - now)) end
end
local function cut(scope, observed)
  -- AdaptiveRate.on_flood, on the shared state of one scope.
  local key = prefix .. 'rate:' .. scope
  local v = redis.call('HMGET', key, 'f', 'h', 'p')
  local f, h, probing = tonumber(v[1]) or 1, tonumber(v[2]) or 0, v[3] == '1'
  local to = f * cut_cfg.decrease
  if observed and observed > 0 and observed < f then
    to = math.max(observed, f * cut_cfg.decrease * cut_cfg.decrease)
  end
  f = math.max(cut_cfg.floor, to)
  if probing then h = math.min(cut_cfg.max_hold, 2 * h) else h = cut_cfg.hold end
  redis.call('HSET', key, 'f', tostring(f), 'h', h, 'c', now, 'p', 0)
  redis.call('PEXPIRE', key, 2 * cut_cfg.max_hold)
  return f
end
local function adopt(scope, f)
  -- AdaptiveRate.adopt: go down to what a chat of the kind was cut to.
  local key = prefix .. 'rate:' .. scope
  if f < (tonumber(redis.call('HGET', key, 'f')) or 1) then
    redis.call('HSET', key, 'f', tostring(math.max(cut_cfg.floor, f)), 'h', cut_cfg.hold,
      'c', now, 'p', 0)
    redis.call('PEXPIRE', key, 2 * cut_cfg.max_hold)
  end
end
redis.call('HINCRBY', prefix .. 'health:' .. bot, 'floods', 1)
local escalated = wide or chat == ''
if not escalated then
  close(prefix .. 'flood:' .. chat, till)
  local count, window = chat_shape(bot, chat, kind, c)
  local flying, accepted
  local bkey = prefix .. 'b:' .. chat
  if kind == 'p' then
    -- A bucket: what its current burst used (0: full).
    flying = bucket_flying(bkey) and 1 or 0
    local btat = tonumber(redis.call('HGET', bkey, 't') or '0')
    accepted = math.max(0, math.ceil((btat - now) / window - 1e-9))
  else
    local wkey = prefix .. 'w:' .. chat
    flying = redis.call('ZCOUNT', wkey, '(' .. (now + 1), '+inf')
    accepted = redis.call('ZCOUNT', wkey, now - window, now + 1)
  end
  if flying > 0 or accepted > 0 then
    -- The chat's own limit explains it: cut the chat (the burst or count Telegram
    -- let through, else a private chat's rate), and the kind learns the burst.
    if kind == 'p' and not (accepted >= 1 and accepted < count) then
      cut(chat .. '#r', nil)
    else
      local observed = nil
      if accepted >= 1 and accepted < count then
        observed = accepted / (kind == 'p' and c.pb or c.gc)
      end
      adopt(bot .. (kind == 'p' and '#private' or '#group'), cut(chat .. '#n', observed))
    end
    if kind == 'p' then
      -- It reopens with one send, not a bucket refilled while it waited.
      local burst, period = chat_shape(bot, chat, kind, c)
      local btat = tonumber(redis.call('HGET', bkey, 't') or '0')
      redis.call('HSET', bkey, 't', math.max(btat, till + (burst - 1) * period), 'p', period)
      redis.call('PEXPIRE', bkey, math.ceil(till - now + burst * period + 300000))
    end
    return {0, retry}
  end
  -- Unexplained: enough of them, from two chats or more, a share of the last
  -- window's answers, close the whole bot.
  local key = prefix .. 'unexplained:' .. bot
  local answered = tonumber(redis.call('HGET', prefix .. 'health:' .. bot, 'successes') or '0')
  redis.call('ZADD', key, now,
    chat .. '|' .. till .. '|' .. answered .. '|' .. redis.call('INCR', key .. ':n'))
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span - 1)
  redis.call('PEXPIRE', key, span + 1)
  redis.call('PEXPIRE', key .. ':n', span + 1)
  local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local chats, distinct, last, first = {}, 0, till, nil
  for n = 1, #entries, 2 do
    local name, at, had = string.match(entries[n], '^(.*)|([0-9.]+)|([0-9]+)|[0-9]+$')
    if not chats[name] then chats[name] = true; distinct = distinct + 1 end
    last = math.max(last, tonumber(at))
    first = first or tonumber(had)
  end
  -- A share of the answers since the first of them: a bot-wide limit refuses most of
  -- what follows; stray 429s are few among many answers.
  local floods = #entries / 2
  local since = answered - first
  if floods < after or distinct < 2 or floods < share * (floods + since) then
    return {0, retry}
  end
  escalated = true
  till = last
  redis.call('DEL', key)
end
close(prefix .. 'flood:' .. bot, till)
redis.call('HINCRBY', prefix .. 'health:' .. bot, 'account_blocks', 1)
-- What Telegram accepted in the last window is its real count.
local accepted = redis.call('ZCOUNT', prefix .. 'w:' .. bot, now - bot_window, now + 1)
local observed = nil
if accepted > 0 then observed = accepted / bot_count end
cut(bot, observed)
return {1, till - now}
"""
)

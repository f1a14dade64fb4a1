"""The router's Lua script: one decision, checked and applied atomically.

The executable specification is :func:`hub.routing.apply.apply`; this script performs
the same checks in the same order (same refusal codes and reasons) and the same
effects, over the keys described in :mod:`hub.routing.store`. Every check runs before
the first write, so a refusal changes nothing. It never reads the server clock: ``now``
is an argument, like everywhere in the router.

KEYS: agents, items, load, peak, violations, held, rr, wrap, journal (``RouterKeys.all()``).
ARGV: op, now, heartbeat_timeout_s, away_grace_s, offline_after_s, then the op's own
arguments (see ``hub.routing.atomic._args``), then the decision as JSON for the journal.
Every applied decision is appended to the journal stream (fields ``d`` decision, ``n``
now, ``r`` reply) in the same atomic step, so its effects can be persisted to Postgres
exactly once even if the caller dies right after the script (hub/routing/persist.py).
Reply: ``{'ok', released_holder_or_'', agent, offer_status, ...}`` (the offers that
ended) or ``{'no', 'conflict'|'not_found', code, reason}``.
"""

from __future__ import annotations

ROUTER_LUA = r"""
local AG, IT, LD, PK, VI, HE, RR, WR = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local JN = KEYS[9]
local op, now_s = ARGV[1], ARGV[2]
local now = tonumber(now_s)
local HB_TIMEOUT, GRACE, OFFLINE_AFTER = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local A = {}
local last_arg = #ARGV
if JN then last_arg = #ARGV - 1 end
for i = 6, last_arg do A[#A + 1] = ARGV[i] end
local ITEM_FIELDS = {'s', 'ch', 'w', 'q', 'eq', 'st', 'ar', 'ag', 'at', 'wu', 'of'}
local CHOSEN = {available = 'online', away = 'away', busy = 'busy'}

local REFUSED = {}
local function fail(kind, code, reason)
  error({[REFUSED] = true, kind = kind, code = code, reason = reason})
end

-- offers: 'agent,queue,status,offered_at,expires_at,ended_at' joined by ';'
local function parse_offers(s)
  local out = {}
  if not s then return out end
  for rec in string.gmatch(s, '[^;]+') do
    local f = {}
    for x in string.gmatch(rec .. ',', '([^,]*),') do f[#f + 1] = x end
    out[#out + 1] = {a = f[1], q = f[2], s = f[3], at = f[4], ex = f[5], en = f[6]}
  end
  return out
end

local function dump_offers(offers)
  local parts = {}
  for i, o in ipairs(offers) do
    parts[i] = table.concat({o.a, o.q, o.s, o.at, o.ex, o.en}, ',')
  end
  return table.concat(parts, ';')
end

local function need_item(id)
  local v = redis.call('HMGET', IT, id .. ':ch', id .. ':w', id .. ':st', id .. ':ar',
                       id .. ':ag', id .. ':wu', id .. ':of')
  if not v[1] then fail('not_found', 'item_gone', 'work item ' .. id .. ' is not routed') end
  return {id = id, ch = v[1], w = tonumber(v[2]), st = tonumber(v[3] or '0'),
          ar = v[4] == '1', ag = v[5] or nil, wu = v[6] or nil, of = parse_offers(v[7] or nil)}
end

local function show(agent) if agent then return agent end return 'None' end

local function not_wrapup(it)
  if it.wu then fail('conflict', 'item_done', 'work item ' .. it.id .. ' is in wrap-up') end
end

local function check_holder(it, expected)  -- expected: agent id string or nil
  if it.ag ~= expected then
    fail('conflict', 'holder_changed', 'work item ' .. it.id .. ' is held by ' .. show(it.ag)
         .. ', not ' .. show(expected))
  end
end

local function pending_index(it, agent)
  for i, o in ipairs(it.of) do
    if o.a == agent and o.s == 'pending' then return i end
  end
  return nil
end

local function has_pending(it)
  for _, o in ipairs(it.of) do if o.s == 'pending' then return true end end
  return false
end

-- presence: derive_presence over the stored inputs
local function presence(a)
  local v = redis.call('HMGET', AG, a .. ':st', a .. ':cn', a .. ':hb', a .. ':dc', a .. ':pub',
                       a .. ':la', a .. ':lf')
  local exists = false
  for i = 1, 7 do if v[i] then exists = true end end
  if not exists then return 'offline' end
  local status = v[1] or 'available'
  if status == 'offline' then return 'offline' end
  local chosen = CHOSEN[status]
  local hb, dc = nil, nil
  if v[3] then hb = tonumber(v[3]) end
  if v[4] then dc = tonumber(v[4]) end
  local lost = nil
  if v[2] ~= '1' then
    if dc ~= nil then lost = dc elseif hb ~= nil then lost = hb else lost = -1e18 end
  elseif hb ~= nil then
    local silent = hb + HB_TIMEOUT
    if now >= silent then lost = silent end
  end
  if lost == nil then return chosen end
  local gone = now - lost
  if gone < GRACE then return chosen end
  if gone < OFFLINE_AFTER then return 'away' end
  return 'offline'
end

-- load: counters minus the items whose wrap-up ended by now (as state.loads)
local function effective(a, ch)
  local v = redis.call('HMGET', LD, a, a .. ':' .. ch)
  local units, count = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', WR, '-inf', now_s)) do
    local e = redis.call('HMGET', IT, id .. ':ag', id .. ':ch', id .. ':w')
    if e[1] == a then
      units = units - tonumber(e[3])
      if e[2] == ch then count = count - 1 end
    end
  end
  return units, count
end

local function fits(units, count, w, cap, limit)
  return units + w <= cap and (limit == nil or count < limit)
end

local function add_load(a, ch, w, sign)
  local units = redis.call('HINCRBY', LD, a, sign * w)
  local count = redis.call('HINCRBY', LD, a .. ':' .. ch, sign)
  if units < 0 or count < 0 then redis.call('HINCRBY', VI, 'negative_load', 1) end
  if units == 0 then redis.call('HDEL', LD, a) end
  if count == 0 then redis.call('HDEL', LD, a .. ':' .. ch) end
end

-- after an increase: remember the peak; cap/limit (nil: unchecked) must hold
local function note_peak(a, ch, cap, limit)
  local units, count = effective(a, ch)
  if units > tonumber(redis.call('HGET', PK, a) or '0') then redis.call('HSET', PK, a, units) end
  local ck = a .. ':' .. ch
  if count > tonumber(redis.call('HGET', PK, ck) or '0') then redis.call('HSET', PK, ck, count) end
  if cap ~= nil and units > cap then redis.call('HINCRBY', VI, 'over_capacity', 1) end
  if limit ~= nil and count > limit then redis.call('HINCRBY', VI, 'over_channel_limit', 1) end
end

-- the independent holder index: a second holder is a violation
local function hold(id, a, previous)
  if redis.call('HGET', HE, id) ~= (previous or false) then
    redis.call('HINCRBY', VI, 'double_holder', 1)
  end
  redis.call('HSET', HE, id, a)
end

local function unhold(id, a)
  if redis.call('HGET', HE, id) ~= a then redis.call('HINCRBY', VI, 'holder_mismatch', 1) end
  redis.call('HDEL', HE, id)
end

local function touch(a, field) redis.call('HSET', AG, a .. ':' .. field, now_s) end

local ended = {}
local released = ''

-- close pending offers (all, or only agent's) with status; frees their reservations
local function end_offers(it, status, only)
  for _, o in ipairs(it.of) do
    if o.s == 'pending' and (only == nil or o.a == only) then
      o.s, o.en = status, now_s
      add_load(o.a, it.ch, it.w, -1)
      ended[#ended + 1] = o.a
      ended[#ended + 1] = status
    end
  end
end

local function release_holder(it)
  if it.ag then
    add_load(it.ag, it.ch, it.w, -1)
    unhold(it.id, it.ag)
    released = it.ag
  end
end

local function drop(it)
  if it.ag then release_holder(it) else end_offers(it, 'rescinded') end
  local names = {}
  for i, f in ipairs(ITEM_FIELDS) do names[i] = it.id .. ':' .. f end
  redis.call('HDEL', IT, unpack(names))
  redis.call('ZREM', WR, it.id)
end

local function opt(x) if x == '' then return nil end return x end

local ops = {}

ops['enqueue'] = function()
  local id = A[1]
  if redis.call('HEXISTS', IT, id .. ':ch') == 1 then
    fail('conflict', 'duplicate', 'work item ' .. id .. ' is already routed')
  end
  local set = {}
  for i, f in ipairs(ITEM_FIELDS) do
    if A[i + 1] ~= '' then
      set[#set + 1] = id .. ':' .. f
      set[#set + 1] = A[i + 1]
    end
  end
  redis.call('HSET', IT, unpack(set))
  local ch, w, ag, wu = A[3], tonumber(A[4]), opt(A[9]), opt(A[11])
  if ag then
    add_load(ag, ch, w, 1)
    hold(id, ag, nil)
    if wu then redis.call('ZADD', WR, wu, id) end
    note_peak(ag, ch, nil, nil)
  elseif not wu then
    for _, o in ipairs(parse_offers(opt(A[12]))) do
      if o.s == 'pending' then
        add_load(o.a, ch, w, 1)
        note_peak(o.a, ch, nil, nil)
      end
    end
  end
end

ops['offer'] = function()
  local it = need_item(A[1])
  local expires, rr_queue, rr_agent, n = A[2], A[3], A[4], tonumber(A[5])
  not_wrapup(it)
  check_holder(it, nil)
  if has_pending(it) then
    fail('conflict', 'offered', 'work item ' .. it.id .. ' already has a pending offer')
  end
  local targets, seen = {}, {}
  for i = 1, n do
    local b = 5 + (i - 1) * 4
    local t = {a = A[b + 1], q = A[b + 2], cap = tonumber(A[b + 3]), limit = tonumber(A[b + 4])}
    if seen[t.a] then fail('conflict', 'bad_offer', 'an offer needs distinct target agents') end
    seen[t.a] = true
    targets[i] = t
  end
  if n == 0 then fail('conflict', 'bad_offer', 'an offer needs distinct target agents') end
  for _, t in ipairs(targets) do
    local p = presence(t.a)
    if p ~= 'online' then
      fail('conflict', 'agent_unavailable', 'agent ' .. t.a .. ' is ' .. p)
    end
    local units, count = effective(t.a, it.ch)
    if not fits(units, count, it.w, t.cap, t.limit) then
      fail('conflict', 'over_capacity', 'agent ' .. t.a .. ' has no room')
    end
  end
  for _, t in ipairs(targets) do
    it.of[#it.of + 1] = {a = t.a, q = t.q, s = 'pending', at = now_s, ex = expires, en = ''}
    add_load(t.a, it.ch, it.w, 1)
    note_peak(t.a, it.ch, t.cap, t.limit)
  end
  redis.call('HSET', IT, it.id .. ':of', dump_offers(it.of))
  if rr_queue ~= '' and rr_agent ~= '' then redis.call('HSET', RR, rr_queue, rr_agent) end
end

ops['offer.accept'] = function()
  local it, a = need_item(A[1]), A[2]
  local idx = pending_index(it, a)
  if not idx then
    fail('conflict', 'offer_gone', 'no pending offer of item ' .. it.id .. ' to agent ' .. a)
  end
  if tonumber(it.of[idx].ex) <= now then
    fail('conflict', 'offer_expired', 'the offer of item ' .. it.id .. ' expired')
  end
  it.of[idx].s, it.of[idx].en = 'accepted', now_s
  ended[1], ended[2] = a, 'accepted'
  end_offers(it, 'rescinded')
  redis.call('HSET', IT, it.id .. ':of', dump_offers(it.of), it.id .. ':ag', a,
             it.id .. ':at', now_s)
  hold(it.id, a, nil)
  touch(a, 'la')
end

local function end_one(status)
  local it, a = need_item(A[1]), A[2]
  local idx = pending_index(it, a)
  if not idx then
    fail('conflict', 'offer_gone', 'no pending offer of item ' .. it.id .. ' to agent ' .. a)
  end
  if status == 'timed_out' and tonumber(it.of[idx].ex) > now then
    fail('conflict', 'not_expired', 'the offer has not expired yet')
  end
  end_offers(it, status, a)
  redis.call('HSET', IT, it.id .. ':of', dump_offers(it.of))
end

ops['offer.decline'] = function() end_one('declined') end
ops['offer.rescind'] = function() end_one('rescinded') end
ops['offer.expire'] = function() end_one('timed_out') end

ops['escalate'] = function()
  local it = need_item(A[1])
  if it.st ~= tonumber(A[2]) then
    fail('conflict', 'step_changed', 'work item ' .. it.id .. ' is at step ' .. it.st)
  end
  redis.call('HSET', IT, it.id .. ':st', A[3])
end

ops['auto_reply'] = function()
  local it = need_item(A[1])
  if it.ar then fail('conflict', 'auto_replied', 'work item ' .. it.id .. ' was auto-replied') end
  redis.call('HSET', IT, it.id .. ':ar', '1')
end

ops['transfer'] = function()
  local it = need_item(A[1])
  not_wrapup(it)
  check_holder(it, opt(A[3]))
  end_offers(it, 'rescinded')
  release_holder(it)
  if it.ag then touch(it.ag, 'lf') end
  redis.call('HSET', IT, it.id .. ':of', dump_offers(it.of), it.id .. ':q', A[2],
             it.id .. ':eq', now_s, it.id .. ':st', '0')
  redis.call('HDEL', IT, it.id .. ':ag', it.id .. ':at')
end

ops['assign'] = function()
  local it, a = need_item(A[1]), A[2]
  local cap, limit, force = tonumber(A[4]), tonumber(A[5]), A[6] == '1'
  not_wrapup(it)
  check_holder(it, opt(A[3]))
  if it.ag == a then
    fail('conflict', 'no_change', 'work item ' .. it.id .. ' is already with agent ' .. a)
  end
  local units, count = effective(a, it.ch)
  for _, o in ipairs(it.of) do  -- the item's own reservation of a no longer counts
    if o.s == 'pending' and o.a == a then units, count = units - it.w, count - 1 end
  end
  if not force and not fits(units, count, it.w, cap, limit) then
    fail('conflict', 'over_capacity', 'agent ' .. a .. ' has no room')
  end
  local previous = it.ag
  end_offers(it, 'rescinded')
  release_holder(it)
  if previous then touch(previous, 'lf') end
  add_load(a, it.ch, it.w, 1)
  redis.call('HSET', IT, it.id .. ':of', dump_offers(it.of), it.id .. ':ag', a,
             it.id .. ':at', now_s)
  hold(it.id, a, nil)
  touch(a, 'la')
  if force then note_peak(a, it.ch, nil, nil) else note_peak(a, it.ch, cap, limit) end
end

ops['complete'] = function()
  local it, a, wu = need_item(A[1]), A[2], opt(A[3])
  not_wrapup(it)
  check_holder(it, a)
  if wu == nil or tonumber(wu) <= now then
    drop(it)
    touch(a, 'lf')
  else
    redis.call('HSET', IT, it.id .. ':wu', wu)
    redis.call('ZADD', WR, wu, it.id)
  end
end

ops['wrapup.end'] = function()
  local it = need_item(A[1])
  if it.wu == nil or tonumber(it.wu) > now then
    fail('conflict', 'in_wrapup', 'work item ' .. it.id .. ' is not done wrapping up')
  end
  drop(it)
  touch(A[2], 'lf')
end

ops['cancel'] = function()
  local it = need_item(A[1])
  drop(it)
  if it.ag and not it.wu then touch(it.ag, 'lf') end
end

ops['presence'] = function()
  redis.call('HSET', AG, A[1] .. ':pub', A[2])
end

local handler = ops[op]
if handler == nil then return redis.error_reply('unknown router op ' .. tostring(op)) end
local ok, err = pcall(handler)
if not ok then
  if type(err) == 'table' and err[REFUSED] then
    return {'no', err.kind, err.code, err.reason}
  end
  error(err)
end
local out = {'ok', released}
for _, x in ipairs(ended) do out[#out + 1] = x end
if JN then
  redis.call('XADD', JN, 'MAXLEN', '~', '1000000', '*', 'd', ARGV[#ARGV], 'n', now_s,
             'r', table.concat(out, ',', 2))
end
return out
"""

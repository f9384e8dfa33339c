#!lua
-- create: a new mailbox, or the first answer again when this is a retry of
-- the claim's create (docs/redis-store.md).
-- KEYS: m:<new id>, r:<claim>, all, o:<owner>, oe:<owner>, lc:<address>
-- ARGV: now, claim, rid, body_ok, rights, expires_at, pt, pd, dt, dd, di,
--       t0t, t0d, remembered, max_mailboxes, max_owner_bytes, bytes, owner,
--       then the rate rule (common.lua)
-- Reply: {verdict} or, DONE and REPEATED, the mailbox's flat array.

-- Every create spends a token, whatever comes of it (storage/ratelimit.h).
local refused = limited()
if refused then return refused end
spend()
local x = tonumber(ARGV[6])
local prefix = string.sub(KEYS[3], 1, -4)       -- KEYS[3] is P .. 'all'

-- Retry: the claim's record of a create with this rid, its mailbox still live.
-- (Its mailbox's key is not in KEYS: it is read under the same prefix.)
local first, first_id = repeated(KEYS[2], 1, nil)
if first then
  local key = prefix .. 'm:' .. first_id
  local fm = load(key)
  if fm and fm.x > now then return reply(1, 0, first, key, fm, true) end
end
if ARGV[4] ~= '1' then return {5} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {8} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
local max = tonumber(ARGV[15])
if max > 0 and redis.call('ZCARD', KEYS[3]) >= max then return {6} end

-- The owner's bytes: only with a per-owner limit, as in storage/store.c. A
-- mailbox counts while it is in `all` (not deleted) and not expired by now.
local owner, max_owner, bytes = ARGV[18], tonumber(ARGV[16]), tonumber(ARGV[17])
local id, last = string.sub(KEYS[1], -32), x
if max_owner == 0 then owner = '' end
if owner ~= '' then
  -- (KEYS[4] and KEYS[5] are its o: and oe: keys.)
  local used, held_last = owner_bytes(prefix, owner)
  if used + bytes > max_owner then return {7} end
  if held_last > last then last = held_last end
end

local m = {s = claim, g = tonumber(ARGV[5]), e = 1, x = x, pt = ARGV[7], pd = ARGV[8],
  dt = ARGV[9], dd = ARGV[10], di = ARGV[11], o = owner, n = owner ~= '' and bytes or 0}
if ARGV[12] ~= '' then m.t0t, m.t0d = ARGV[12], ARGV[13] end
store(KEYS[1], m, x)
redis.call('ZADD', KEYS[3], ARGV[6], id)
if owner ~= '' then
  redis.call('HSET', KEYS[4], id, bytes)
  redis.call('ZADD', KEYS[5], ARGV[6], id)
  redis.call('PEXPIREAT', KEYS[4], string.format('%d', last * 1000))
  redis.call('PEXPIREAT', KEYS[5], string.format('%d', last * 1000))
end
remember(KEYS[2], 1, id, ARGV[14], x)
return reply(0, 0, tonumber(ARGV[14]), KEYS[1], m, true)

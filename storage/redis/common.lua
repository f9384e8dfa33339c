-- common.lua: what every script here shares. tools/embed_lua.sh (and the
-- tests) put it in front of each one, after its #! line.
local now, claim, rid = tonumber(ARGV[1]), ARGV[2], ARGV[3]

-- A mailbox is one string key holding a MessagePack map of its fields, and
-- so is a claim's retry record (docs/redis-store.md): a script loads it
-- whole into a table, changes the table and stores it whole. (A hash leaves
-- Redis's compact encoding once a field, the payload, is over 64 bytes.)
local function load(key)
  local packed = redis.call('GET', key)
  if packed then return cmsgpack.unpack(packed) end
end

-- t packed into key, expiring at expires_at (Unix s) when given, else
-- keeping the key's expiry.
local function store(key, t, expires_at)
  if expires_at then
    redis.call('SET', key, cmsgpack.pack(t), 'PXAT', string.format('%d', expires_at * 1000))
  else
    redis.call('SET', key, cmsgpack.pack(t), 'KEEPTTL')
  end
end

-- The mailbox m at key, as DONE and REPEATED replies carry it.
-- bare: without the payload's bytes, which no answer to this call shows
-- (create, update, delete, relinquish): a large one is not sent back.
local function reply(verdict, party, remembered, key, m, bare)
  local out = {verdict, party, remembered, string.sub(key, -32), m.e, m.x, m.g,
    m.r and 1 or 0}
  for _, f in ipairs({'pt', 'pd', 'dt', 'dd', 'di', 't0t', 't0d', 't1t', 't1d'}) do
    out[#out + 1] = (bare and f == 'pd') and '' or m[f] or ''
  end
  return out
end

-- What the claim's record (at record) remembered, if this call repeats its
-- op (1 create, 2 update, 3 relinquish) on mailbox id (nil: any).
local function repeated(record, op, id)
  local rec = rid ~= '' and load(record)
  if rec and rec.op == op and rec.rid == rid and (id == nil or rec.id == id) then
    return rec.res, rec.id
  end
end

-- The claim's record replaces its last one; without a rid (or with one
-- longer than a Mailbox-Request-ID may be) it is forgotten.
local function remember(record, op, id, res, expires_at)
  if rid ~= '' and #rid <= 128 then
    store(record, {op = op, id = id, res = tonumber(res), rid = rid}, expires_at)
  else
    redis.call('DEL', record)
  end
end

-- An owner's bytes (--max-bytes-per-address): a mailbox counts while it is
-- in `all` (not deleted) and not expired by now; the others are pruned.
-- The bytes, and the latest expiry among the mailboxes counted (0: none).
local function owner_bytes(prefix, owner)
  local o, oe, all = prefix .. 'o:' .. owner, prefix .. 'oe:' .. owner, prefix .. 'all'
  local used, last, held = 0, 0, redis.call('ZRANGE', oe, 0, -1, 'WITHSCORES')
  for i = 1, #held, 2 do
    local hx = tonumber(held[i + 1])
    if hx <= now or not redis.call('ZSCORE', all, held[i]) then
      redis.call('ZREM', oe, held[i])
      redis.call('HDEL', o, held[i])
    else
      used = used + tonumber(redis.call('HGET', o, held[i]) or 0)
      if hx > last then last = hx end
    end
  end
  return used, last
end

-- The bytes a mailbox's owner is counted for: what it was created with,
-- and every token or payload written since, as create's caller counts.
local function size_of(m)
  local n = 0
  for _, f in ipairs({'pt', 'pd', 'dt', 'dd', 'di', 't0t', 't0d', 't1t', 't1d'}) do
    n = n + #(m[f] or '')
  end
  return n
end

-- Mailbox id (m, as it will be written) grows or shrinks: nil, with its
-- owner's count changed, or the OWNER_FULL reply when growth would take
-- the owner past max_owner. As storage/store.c: whoever writes, the growth
-- counts against the owner.
local function resize(prefix, id, m, max_owner)
  if not m.o or m.o == '' or max_owner == 0 then return nil end
  local bytes = size_of(m)
  if bytes > m.n and owner_bytes(prefix, m.o) - m.n + bytes > max_owner then return {7} end
  m.n = bytes
  redis.call('HSET', prefix .. 'o:' .. m.o, id, bytes)
  return nil
end

-- Milliseconds on Redis's clock, the one every relay shares, moved by the
-- relay's test clock offset (the last ARGV; 0 but in tests).
local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[#ARGV])
end

-- Rate limits (--rate-create, --rate-fail), one bucket per address for
-- every relay: the bucket is the script's last key, its rule the last four
-- ARGV: per, period_ms, burst (per 0: no limit) and the offset. As
-- storage/ratelimit.c, in thousandths of a token, on clock_ms.
local function bucket()
  local n = #ARGV
  local per, period, burst = tonumber(ARGV[n - 3]), tonumber(ARGV[n - 2]), tonumber(ARGV[n - 1])
  if per == 0 then return nil end
  local b = {now = clock_ms(), per = per, period = period, cap = burst * 1000,
    full = math.ceil(burst * period / per)}
  local held = redis.call('HMGET', KEYS[#KEYS], 't', 'a')
  b.tokens, b.at = tonumber(held[1]) or b.cap, tonumber(held[2]) or b.now
  local elapsed = b.now - b.at
  if elapsed >= b.full then
    b.tokens, b.at = b.cap, b.now
  elseif elapsed > 0 then
    -- Only the time that became whole thousandths is used up.
    local added = math.floor(elapsed * per * 1000 / period)
    b.at = b.at + math.floor(added * period / (per * 1000))
    b.tokens = b.tokens + added
    if b.tokens >= b.cap then b.tokens, b.at = b.cap, b.now end
  end
  return b
end

-- nil when the bucket holds a token, else the reply: {9, seconds until one}.
local function limited()
  local b = bucket()
  if not b or b.tokens >= 1000 then return nil end
  local wait_ms = math.ceil((1000 - b.tokens) * b.period / (b.per * 1000))
  return {9, math.ceil(wait_ms / 1000)}
end

-- One token used (none left: the bucket stays empty). The bucket goes once
-- it would be full again anyway.
local function spend()
  local b = bucket()
  if not b then return end
  redis.call('HSET', KEYS[#KEYS], 't', math.max(b.tokens - 1000, 0), 'a', b.at)
  redis.call('PEXPIRE', KEYS[#KEYS], b.full)
end

-- A claim check failed: it counts against the address (--rate-fail).
local function denied()
  spend()
  return {3}
end

-- How every call on a claimed mailbox starts (scripts that end with the
-- rate rule): the address's --rate-fail bucket first, since an address out
-- of tokens is not even checked; then the live mailbox at KEYS[1] (P ..
-- 'm:' .. id). nil, the mailbox, its id and the keys' prefix; or the reply.
local function open()
  local refused = limited()
  if refused then return refused end
  local m = load(KEYS[1])
  if not m or m.x <= now then return {2} end
  return nil, m, string.sub(KEYS[1], -32), string.sub(KEYS[1], 1, -35)
end

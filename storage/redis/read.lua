#!lua
-- read: the mailbox for its Sender or its bound Receiver with R; a new claim
-- becomes the Receiver if none is bound and R is granted. A token given is
-- stored as the reader's. A long-poll that holds the stored version will
-- park: it takes one of its address's places (--max-waiters-per-address)
-- for every relay, or is refused, after the rest is done, as the memory
-- store's relay refuses it after the read.
-- KEYS: m:<id>, lw:<address>, lf:<address>
-- ARGV: now, claim, rid, body_ok, tt, td (tt empty: no token), held (the
--       versions the reader holds: '*', '-' for none, or versions separated
--       by spaces), park_ms (0: not a long-poll), lease (the place's name),
--       max_waiters (0: no limit), max_owner_bytes (0: none), then the rate
--       rule (common.lua)
-- Reply: {verdict} or, DONE, the mailbox's flat array and 1 when the
-- place was taken, else 0.

local refused, m, id, prefix = open()
if refused then return refused end
local may_read = bit.band(m.g, 1) ~= 0
local sender = m.s == claim
local bind = false
if not sender and not (m.r == claim and may_read) then
  if m.r or not may_read then return denied() end
  bind = true
end
if ARGV[4] ~= '1' then return {5} end
local party = sender and 0 or 1
if ARGV[5] ~= '' then
  m['t' .. party .. 't'], m['t' .. party .. 'd'] = ARGV[5], ARGV[6]
end
if ARGV[5] ~= '' then
  local full = resize(prefix, id, m, tonumber(ARGV[11]))
  if full then return full end
end
if bind then m.r = claim end
if ARGV[5] ~= '' or bind then store(KEYS[1], m) end
local out = reply(0, party, 0, KEYS[1], m)
out[#out + 1] = 0
local park_ms, max_waiters = tonumber(ARGV[8]), tonumber(ARGV[10])
if park_ms == 0 or max_waiters == 0 then return out end
local holds = false
for v in string.gmatch(ARGV[7], '%S+') do
  if v == '*' or v == tostring(m.e) then holds = true end
end
if not holds then return out end
-- A place is the long-poll's until its wait is over, at the latest (a
-- relay that stopped gives none back), and a little more for its answer.
local at = clock_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', at)
if redis.call('ZCARD', KEYS[2]) >= max_waiters then return {10} end
redis.call('ZADD', KEYS[2], at + park_ms + 5000, ARGV[9])
if redis.call('PTTL', KEYS[2]) < park_ms + 5000 then
  redis.call('PEXPIRE', KEYS[2], park_ms + 5000)
end
out[#out] = 1
return out

#!lua
-- read: the mailbox for its Sender or its bound Receiver with R; a new claim
-- becomes the Receiver if none is bound and R is granted. A token given is
-- stored as the reader's.
-- KEYS: m:<id>, lf:<address>
-- ARGV: now, claim, rid, body_ok, tt, td (tt empty: no token)
--       then the rate rule (common.lua)
-- Reply: {verdict} or, DONE, the mailbox's flat array.

-- An address out of tokens is not even checked (--rate-fail).
local refused = limited()
if refused then return refused end

local m = load(KEYS[1])
if not m or m.x <= now then return {2} end
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
if bind then m.r = claim end
if ARGV[5] ~= '' or bind then store(KEYS[1], m) end
return reply(0, party, 0, KEYS[1], m)

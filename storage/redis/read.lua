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

local m = redis.call('HMGET', KEYS[1], 'x', 's', 'r', 'g')
local x = tonumber(m[1])
if not x or x <= now then return {2} end
local may_read = bit.band(tonumber(m[4]), 1) ~= 0
local sender = m[2] == claim
local bind = false
if not sender and not (m[3] == claim and may_read) then
  if m[3] or not may_read then return denied() end
  bind = true
end
if ARGV[4] ~= '1' then return {5} end
local party = sender and 0 or 1
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 't' .. party .. 't', ARGV[5], 't' .. party .. 'd', ARGV[6])
end
if bind then redis.call('HSET', KEYS[1], 'r', claim) end
return reply(0, party, 0, KEYS[1])

#!lua
-- update: a new payload (and maybe the writer's token) from the Sender or
-- the bound Receiver with W, if If-Match names the stored version; a retry
-- of the claim's last update answers again. Publishes the new etag.
-- KEYS: m:<id>, r:<claim>, lf:<address>
-- ARGV: now, claim, rid, body_ok, if_match (empty: none; '*'; or etags
--       separated by spaces), pt, pd, tt, td (tt empty: no token),
--       push_types (pushable token types separated by spaces),
--       max_owner_bytes (0: none), then the rate rule (common.lua)
-- Reply: {verdict} or, DONE and REPEATED, the mailbox's flat array.

local refused, m, id, prefix = open()
if refused then return refused end
local first = repeated(KEYS[2], 2, id)
if first then return reply(1, 0, first, KEYS[1], m, true) end
local sender = m.s == claim
if not sender and not (m.r == claim and bit.band(m.g, 2) ~= 0) then
  return denied()
end
if ARGV[5] ~= '' then
  local matched = false
  for tag in string.gmatch(ARGV[5], '%S+') do
    if tag == '*' or tag == tostring(m.e) then matched = true end
  end
  if not matched then return {4} end
end
if ARGV[4] ~= '1' then return {5} end
local party = sender and 0 or 1
local tt = 't' .. party .. 't'
m.pt, m.pd = ARGV[6], ARGV[7]
if ARGV[8] ~= '' then
  m[tt], m['t' .. party .. 'd'] = ARGV[8], ARGV[9]
end
local full = resize(prefix, id, m, tonumber(ARGV[11]))
if full then return full end
m.e = m.e + 1
store(KEYS[1], m)
-- What a retry answers again: whether the writer's token (the one just
-- given, else the one it left) is of a pushable type.
local writer, remembered = m[tt], 0
for t in string.gmatch(ARGV[10], '%S+') do
  if t == writer then remembered = 1 end
end
remember(KEYS[2], 2, id, remembered, m.x)
redis.call('PUBLISH', prefix .. 'w:' .. id, m.e)
return reply(0, party, remembered, KEYS[1], m, true)

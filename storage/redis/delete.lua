#!lua flags=allow-oom
-- delete: the Sender, or the bound Receiver with D, removes the mailbox; the
-- reply is the mailbox as it was. Publishes 'gone'. The claims' retry
-- records and the owner's count go with their expiry (create prunes the
-- owner's count of mailboxes no longer in `all`).
-- KEYS: m:<id>, all, lf:<address>
-- ARGV: now, claim, rid, body_ok
--       then the rate rule (common.lua)
-- Reply: {verdict} or, DONE, the mailbox's flat array.

local refused, m, id, prefix = open()
if refused then return refused end
local sender = m.s == claim
if not sender and not (m.r == claim and bit.band(m.g, 4) ~= 0) then
  return denied()
end
local out = reply(0, sender and 0 or 1, 0, KEYS[1], m, true)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id)
redis.call('PUBLISH', prefix .. 'w:' .. id, 'gone')
return out

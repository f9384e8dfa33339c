#!lua flags=allow-oom
-- delete: the Sender, or the bound Receiver with D, removes the mailbox; the
-- reply is the mailbox as it was. Publishes 'gone'. The claims' retry
-- records and the owner's count go with their expiry (create prunes the
-- owner's count of mailboxes no longer in `all`).
-- KEYS: m:<id>, all
-- ARGV: now, claim, rid, body_ok
-- Reply: {verdict} or, DONE, the mailbox's flat array.
local now, claim = tonumber(ARGV[1]), ARGV[2]
local id = string.sub(KEYS[1], -32)
local prefix = string.sub(KEYS[1], 1, -35)      -- KEYS[1] is P .. 'm:' .. id

local function reply(verdict, party, remembered, key)
  local m = redis.call('HMGET', key, 'e', 'x', 'g', 'r', 'pt', 'pd', 'dt', 'dd',
    'di', 't0t', 't0d', 't1t', 't1d')
  local out = {verdict, party, remembered, string.sub(key, -32), tonumber(m[1]),
    tonumber(m[2]), tonumber(m[3]), m[4] and 1 or 0}
  for i = 5, 13 do out[#out + 1] = m[i] or '' end
  return out
end

local m = redis.call('HMGET', KEYS[1], 'x', 's', 'r', 'g')
local x = tonumber(m[1])
if not x or x <= now then return {2} end
local sender = m[2] == claim
if not sender and not (m[3] == claim and bit.band(tonumber(m[4]), 4) ~= 0) then
  return {3}
end
local out = reply(0, sender and 0 or 1, 0, KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id)
redis.call('PUBLISH', prefix .. 'w:' .. id, 'gone')
return out

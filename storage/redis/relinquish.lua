#!lua flags=allow-oom
-- relinquish: the bound Receiver unbinds itself and its token goes; a retry
-- of the claim's last relinquish answers again. A mailbox keeps one
-- relinquish record (field q: whose), as in storage/store.c.
-- KEYS: m:<id>, r:<claim>, lf:<address>
-- ARGV: now, claim, rid, body_ok
--       then the rate rule (common.lua)
-- Reply: {verdict} or, DONE and REPEATED, the mailbox's flat array.

-- An address out of tokens is not even checked (--rate-fail).
local refused = limited()
if refused then return refused end

local id = string.sub(KEYS[1], -32)
local prefix = string.sub(KEYS[1], 1, -35)      -- KEYS[1] is P .. 'm:' .. id

local m = redis.call('HMGET', KEYS[1], 'x', 'r', 'q')
local x = tonumber(m[1])
if not x or x <= now then return {2} end
local first = repeated(KEYS[2], '3', id)
if first then return reply(1, 0, first, KEYS[1]) end
if m[2] ~= claim then return denied() end
redis.call('HDEL', KEYS[1], 'r', 't1t', 't1d')
if rid ~= '' and #rid <= 128 then
  -- This claim's record takes the place of the mailbox's last one.
  local mine = string.sub(KEYS[2], -32)
  if m[3] and m[3] ~= mine then
    local old = prefix .. 'r:' .. m[3]
    local o = redis.call('HMGET', old, 'op', 'id')
    if o[1] == '3' and o[2] == id then redis.call('DEL', old) end
  end
  redis.call('HSET', KEYS[1], 'q', mine)
end
remember(KEYS[2], 3, id, 0, x)
return reply(0, 1, 0, KEYS[1])

#!lua flags=allow-oom
-- relinquish: the bound Receiver unbinds itself and its token goes; a retry
-- of the claim's last relinquish answers again. A mailbox keeps one
-- relinquish record (field q: whose), as in storage/store.c.
-- KEYS: m:<id>, r:<claim>
-- ARGV: now, claim, rid, body_ok
-- Reply: {verdict} or, DONE and REPEATED, the mailbox's flat array.
local now, claim, rid = tonumber(ARGV[1]), ARGV[2], ARGV[3]
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

local m = redis.call('HMGET', KEYS[1], 'x', 'r', 'q')
local x = tonumber(m[1])
if not x or x <= now then return {2} end
local rec = redis.call('HMGET', KEYS[2], 'op', 'id', 'res', 'rid')
if rid ~= '' and rec[1] == '3' and rec[4] == rid and rec[2] == id then
  return reply(1, 0, tonumber(rec[3]), KEYS[1])
end
if m[2] ~= claim then return {3} end
redis.call('HDEL', KEYS[1], 'r', 't1t', 't1d')
-- The claim's record replaces its last one; without a rid it is forgotten.
redis.call('DEL', KEYS[2])
if rid ~= '' and #rid <= 128 then
  local mine = string.sub(KEYS[2], -32)
  if m[3] and m[3] ~= mine then
    local old = prefix .. 'r:' .. m[3]
    local o = redis.call('HMGET', old, 'op', 'id')
    if o[1] == '3' and o[2] == id then redis.call('DEL', old) end
  end
  redis.call('HSET', KEYS[1], 'q', mine)
  redis.call('HSET', KEYS[2], 'op', 3, 'id', id, 'res', 0, 'rid', rid)
  redis.call('PEXPIREAT', KEYS[2], string.format('%d', x * 1000))
end
return reply(0, 1, 0, KEYS[1])

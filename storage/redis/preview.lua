#!lua flags=no-writes
-- preview: the mailbox for its share page; no claim, nothing changes.
-- KEYS: m:<id>
-- ARGV: now (the rest of the common head, if given, is not used)
-- Reply: {2} or the mailbox's flat array (DONE, party 0).
local now = tonumber(ARGV[1])

local function reply(verdict, party, remembered, key)
  local m = redis.call('HMGET', key, 'e', 'x', 'g', 'r', 'pt', 'pd', 'dt', 'dd',
    'di', 't0t', 't0d', 't1t', 't1d')
  local out = {verdict, party, remembered, string.sub(key, -32), tonumber(m[1]),
    tonumber(m[2]), tonumber(m[3]), m[4] and 1 or 0}
  for i = 5, 13 do out[#out + 1] = m[i] or '' end
  return out
end

local x = tonumber(redis.call('HGET', KEYS[1], 'x'))
if not x or x <= now then return {2} end
return reply(0, 0, 0, KEYS[1])

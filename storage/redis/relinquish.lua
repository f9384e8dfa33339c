#!lua flags=allow-oom
-- relinquish: the bound Receiver unbinds itself and its token goes; a retry
-- of the claim's last relinquish answers again. A mailbox keeps one
-- relinquish record (field q: whose), as in storage/store.c.
-- KEYS: m:<id>, r:<claim>, lf:<address>
-- ARGV: now, claim, rid, body_ok
--       then the rate rule (common.lua)
-- Reply: {verdict} or, DONE and REPEATED, the mailbox's flat array.

local refused, m, id, prefix = open()
if refused then return refused end
local first = repeated(KEYS[2], 3, id)
if first then return reply(1, 0, first, KEYS[1], m, true) end
if m.r ~= claim then return denied() end
m.r, m.t1t, m.t1d = nil, nil, nil
if rid ~= '' and #rid <= 128 then
  -- This claim's record takes the place of the mailbox's last one.
  local mine = string.sub(KEYS[2], -32)
  if m.q and m.q ~= mine then
    local old = prefix .. 'r:' .. m.q
    local o = load(old)
    if o and o.op == 3 and o.id == id then redis.call('DEL', old) end
  end
  m.q = mine
end
store(KEYS[1], m)
remember(KEYS[2], 3, id, 0, m.x)
return reply(0, 1, 0, KEYS[1], m, true)

#!lua flags=allow-oom
-- drop_token: forget one party's token, only if it is still this one (a
-- push gateway said it is no longer valid).
-- KEYS: m:<id>
-- ARGV: now, claim, rid, body_ok (claim, rid, body_ok not used), party
--       (0 Sender, 1 Receiver), type, data
-- Reply: {2}, or the mailbox's flat array as left (DONE, that party).
local party = ARGV[5]

local m = load(KEYS[1])
if not m or m.x <= now then return {2} end
local tt, td = 't' .. party .. 't', 't' .. party .. 'd'
if m[tt] == ARGV[6] and m[td] == ARGV[7] then
  m[tt], m[td] = nil, nil
  store(KEYS[1], m)
end
return reply(0, tonumber(party), 0, KEYS[1], m, true)

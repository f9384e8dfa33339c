#!lua flags=no-writes
-- preview: the mailbox for its share page; no claim, nothing changes.
-- KEYS: m:<id>
-- ARGV: now (the rest of the common head, if given, is not used)
-- Reply: {2} or the mailbox's flat array (DONE, party 0).

local m = load(KEYS[1])
if not m or m.x <= now then return {2} end
return reply(0, 0, 0, KEYS[1], m)

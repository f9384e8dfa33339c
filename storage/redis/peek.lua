#!lua flags=no-writes
-- peek: the mailbox for a parked long-poll whose claim read it before:
-- nothing is bound or changed. party 2: the claim may no longer read it
-- (the Receiver relinquished, or the Sender's claim it is not).
-- KEYS: m:<id>
-- ARGV: now, claim, rid, body_ok
-- Reply: {2} (gone) or the mailbox's flat array, DONE.
local m = load(KEYS[1])
if not m or m.x <= now then return {2} end
local party = 2
if m.s == claim then
  party = 0
elseif m.r == claim and bit.band(m.g, 1) ~= 0 then
  party = 1
end
return reply(0, party, 0, KEYS[1], m)

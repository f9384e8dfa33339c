#!lua flags=allow-oom
-- drop_token: forget one party's token, only if it is still this one (a
-- push gateway said it is no longer valid).
-- KEYS: m:<id>
-- ARGV: now, claim, rid, body_ok (claim, rid, body_ok not used), party
--       (0 Sender, 1 Receiver), type, data
-- Reply: {2}, or the mailbox's flat array as left (DONE, that party).
local party = ARGV[5]

local x = tonumber(redis.call('HGET', KEYS[1], 'x'))
if not x or x <= now then return {2} end
local t = redis.call('HMGET', KEYS[1], 't' .. party .. 't', 't' .. party .. 'd')
if t[1] == ARGV[6] and t[2] == ARGV[7] then
  redis.call('HDEL', KEYS[1], 't' .. party .. 't', 't' .. party .. 'd')
end
return reply(0, tonumber(party), 0, KEYS[1])

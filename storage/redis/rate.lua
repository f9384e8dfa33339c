#!lua flags=allow-oom
-- rate: a failed claim check the relay made itself (a malformed claim)
-- spends a token of the caller's --rate-fail bucket; what Redis answers
-- is not waited for.
-- KEYS: lf:<address>
-- ARGV: now, claim, rid, body_ok, then the rate rule (common.lua)
-- Reply: {0}
spend()
return {0}

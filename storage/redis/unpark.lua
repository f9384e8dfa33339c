#!lua flags=allow-oom
-- unpark: a long-poll's wait is over, on the relay that parked it; the
-- place read took for it goes back. The relay does not wait for the reply.
-- KEYS: lw:<address>
-- ARGV: now, claim, rid, body_ok, lease
-- Reply: {0}
redis.call('ZREM', KEYS[1], ARGV[5])
return {0}

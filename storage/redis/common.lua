-- common.lua: what every script here shares. tools/embed_lua.sh (and the
-- tests) put it in front of each one, after its #! line.
local now, claim, rid = tonumber(ARGV[1]), ARGV[2], ARGV[3]

-- The mailbox at key, as DONE and REPEATED replies carry it.
local function reply(verdict, party, remembered, key)
  local m = redis.call('HMGET', key, 'e', 'x', 'g', 'r', 'pt', 'pd', 'dt', 'dd',
    'di', 't0t', 't0d', 't1t', 't1d')
  local out = {verdict, party, remembered, string.sub(key, -32), tonumber(m[1]),
    tonumber(m[2]), tonumber(m[3]), m[4] and 1 or 0}
  for i = 5, 13 do out[#out + 1] = m[i] or '' end
  return out
end

-- What the claim's record (at record) remembered, if this call repeats its
-- op (1 create, 2 update, 3 relinquish) on mailbox id (nil: any).
local function repeated(record, op, id)
  local rec = redis.call('HMGET', record, 'op', 'id', 'res', 'rid')
  if rid ~= '' and rec[1] == op and rec[4] == rid and (id == nil or rec[2] == id) then
    return tonumber(rec[3]), rec[2]
  end
end

-- The claim's record replaces its last one; without a rid (or with one
-- longer than a Mailbox-Request-ID may be) it is forgotten.
local function remember(record, op, id, res, expires_at)
  redis.call('DEL', record)
  if rid ~= '' and #rid <= 128 then
    redis.call('HSET', record, 'op', op, 'id', id, 'res', res, 'rid', rid)
    redis.call('PEXPIREAT', record, string.format('%d', expires_at * 1000))
  end
end

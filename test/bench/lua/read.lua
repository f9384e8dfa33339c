-- read: ReadSecureContent by each mailbox's bound Receiver, mailboxes drawn
-- at random from those created beforehand.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local reqs
function init(args) reqs = c.prebuild(function(b) return c.read_request(b) end) end
function request() return reqs[math.random(#reqs)] end

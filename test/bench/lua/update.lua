-- update: UpdateMailbox by the Sender, a new 1 KiB payload each time.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local reqs
function init(args) reqs = c.prebuild(c.update_request) end
function request() return reqs[math.random(#reqs)] end

-- create: CreateMailbox with a fresh random Sender claim per request, the
-- 1 KiB payload, display information and a notification token.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local make
function init(args) make = c.create_maker() end
function request() return make() end

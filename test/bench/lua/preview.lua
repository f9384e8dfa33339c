-- preview: GET /v1/m/{id}, the HTML page with OpenGraph tags (no claim).
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local reqs
function init(args) reqs = c.prebuild(function(b) return c.preview_request(b) end) end
function request() return reqs[math.random(#reqs)] end

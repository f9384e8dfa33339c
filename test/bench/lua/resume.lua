-- resume: a new connection per request (Connection: close) that resumes the
-- previous connection's TLS session. wrk does this by itself: after a clean
-- close it keeps the SSL session (SSL_clear) and offers its ticket on the
-- next connect. The request is the preview (GET, no body).
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local reqs
function init(args)
   reqs = c.prebuild(function(b) return c.preview_request(b, "Connection: close\r\n") end)
end
function request() return reqs[math.random(#reqs)] end

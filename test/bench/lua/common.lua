-- common.lua — what every wrk scenario shares (loaded with dofile).
--
-- Environment (set by bench.py):
--   BENCH_MAILBOXES  file of "path sender receiver etag" lines, one mailbox each
--   BENCH_PAYLOAD    file holding the payload's base64 data (1368 characters:
--                    1024 decoded bytes)
-- Requests are built once in init() where possible, so that wrk spends its
-- time on the wire and not in Lua.
local M = {}

local function seed()
   local f = io.open("/dev/urandom", "rb")
   local s = f:read(4)
   f:close()
   local n = 0
   for i = 1, 4 do n = n * 256 + s:byte(i) end
   math.randomseed(n)
   -- LuaJIT's first numbers after seeding are poorly mixed
   for _ = 1, 10 do math.random() end
end
seed()

function M.read_file(path)
   local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
   local s = f:read("*a")
   f:close()
   return s
end

M.data = M.read_file(os.getenv("BENCH_PAYLOAD")):gsub("%s+", "")

function M.load_mailboxes()
   local boxes = {}
   for line in io.lines(os.getenv("BENCH_MAILBOXES")) do
      local path, sender, receiver, etag = line:match("^(%S+) (%S+) (%S+) (%S+)")
      if path then
         boxes[#boxes + 1] = { path = path, sender = sender, receiver = receiver, etag = etag }
      end
   end
   assert(#boxes > 0, "no mailboxes in " .. tostring(os.getenv("BENCH_MAILBOXES")))
   return boxes
end

-- A version-4 UUID from math.random (a Device Claim only has to be a UUID).
function M.uuid()
   return string.format("%08x-%04x-4%03x-%04x-%04x%08x",
      math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
      math.random(0x8000, 0xbfff), math.random(0, 0xffff), math.random(0, 0xffffffff))
end

local function hex64()
   local t = {}
   for i = 1, 8 do t[i] = string.format("%08x", math.random(0, 0xffffffff)) end
   return table.concat(t)
end

local function host()
   return wrk.headers["Host"]
end

-- CreateMailbox with a fresh claim and token: the request is cut in three
-- around the claim and the token so that each one costs two concatenations.
function M.create_maker()
   local pl = '{"payload":{"type":"AEAD_AES_128_GCM","data":"' .. M.data .. '"},' ..
      '"displayInformation":{"title":"Front door","description":"Home key from Alex",' ..
      '"imageURL":"https://example.com/door.png"},' ..
      '"notificationToken":{"type":"com.apple.apns","tokenData":"'
   local tail = '"}}'
   local body_len = #pl + 64 + #tail
   local head = "POST /v1/m HTTP/1.1\r\nHost: " .. host() ..
      "\r\nContent-Type: application/json\r\nContent-Length: " .. body_len ..
      "\r\nMailbox-Device-Claim: "
   return function()
      return head .. M.uuid() .. "\r\n\r\n" .. pl .. hex64() .. tail
   end
end

function M.read_request(box, extra)
   return "POST " .. box.path .. " HTTP/1.1\r\nHost: " .. host() ..
      "\r\nMailbox-Device-Claim: " .. box.receiver ..
      "\r\nContent-Length: 0\r\n" .. (extra or "") .. "\r\n"
end

function M.update_request(box)
   local body = '{"payload":{"type":"AEAD_AES_128_GCM","data":"' .. M.data .. '"}}'
   return "PUT " .. box.path .. " HTTP/1.1\r\nHost: " .. host() ..
      "\r\nMailbox-Device-Claim: " .. box.sender ..
      "\r\nContent-Type: application/json\r\nContent-Length: " .. #body ..
      "\r\n\r\n" .. body
end

function M.preview_request(box, extra)
   return "GET " .. box.path .. " HTTP/1.1\r\nHost: " .. host() ..
      "\r\n" .. (extra or "") .. "\r\n"
end

-- Requests for every mailbox, built once.
function M.prebuild(fn)
   local boxes = M.load_mailboxes()
   local reqs = {}
   for i, b in ipairs(boxes) do reqs[i] = fn(b) end
   return reqs
end

-- With BENCH_CHECK=1, print the first answers that are not 200 (wrk itself
-- counts only >= 400). Off when measuring: a response() callback makes wrk
-- hand every header and body to Lua, which costs the client more than the
-- server.
local non200 = 0
if os.getenv("BENCH_CHECK") == "1" then function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      if non200 <= 20 then
         io.stdout:write("BENCH_NON200 " .. status .. " " .. tostring(body):sub(1, 120):gsub("%s", " ") .. "\n")
      end
   end
end end

-- One machine-readable line for bench.py, after wrk's own report.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end

return M

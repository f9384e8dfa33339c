-- mixed: 20% create, 60% read, 15% update, 5% preview.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local make, reads, updates, previews
function init(args)
   make = c.create_maker()
   reads = c.prebuild(function(b) return c.read_request(b) end)
   updates = c.prebuild(c.update_request)
   previews = c.prebuild(function(b) return c.preview_request(b) end)
end
function request()
   local r = math.random(100)
   if r <= 20 then return make() end
   if r <= 80 then return reads[math.random(#reads)] end
   if r <= 95 then return updates[math.random(#updates)] end
   return previews[math.random(#previews)]
end

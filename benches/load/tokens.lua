-- wrk script: one token per request from a file (one token per line), in
-- order, so that each request carries a token the server has not seen.
--   TOKENS=path wrk -s tokens.lua ...      STOP_AFTER=n stops after n responses
-- Requests are formatted once, up front: building a new string per request
-- makes LuaJIT's collector walk the whole token table over and over, and
-- wrk itself, not the server, becomes the bottleneck (~5k req/s measured).
local path = os.getenv("TOKENS")
local stop_after = tonumber(os.getenv("STOP_AFTER") or "0")
local reqs = {}
local n = 0
local i = 0
local wrapped = false
local done_count = 0

function init(args)
  for line in io.lines(path) do
    n = n + 1
    reqs[n] = wrk.format("GET", nil, { ["Approov-Token"] = line })
  end
  collectgarbage("collect")
end

request = function()
  i = i + 1
  if i > n then
    i = 1
    if not wrapped then
      wrapped = true
      io.stderr:write(string.format("tokens.lua: all %d tokens used; later requests repeat them (cache hits)\n", n))
    end
  end
  return reqs[i]
end

response = function(status)
  done_count = done_count + 1
  if stop_after > 0 and done_count >= stop_after then wrk.thread:stop() end
end

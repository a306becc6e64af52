-- wrk script: one token per request from a file (one token per line), in
-- order, so that each request carries a token the server has not seen.
-- TOKENS=path wrk -s tokens.lua ...; stops after STOP_AFTER requests if set.
local path = os.getenv("TOKENS")
local stop_after = tonumber(os.getenv("STOP_AFTER") or "0")
local tokens = {}
for line in io.lines(path) do tokens[#tokens + 1] = line end
local n = #tokens
local i = 0
local wrapped = 0

function setup(thread) end

request = function()
  i = i + 1
  if i > n then
    i = 1
    wrapped = wrapped + 1
    if wrapped == 1 then
      io.stderr:write(string.format("tokens.lua: all %d tokens used; later requests repeat them (cache hits)\n", n))
    end
  end
  return wrk.format("GET", nil, { ["Approov-Token"] = tokens[i] })
end

local done_count = 0
response = function(status)
  done_count = done_count + 1
  if stop_after > 0 and done_count >= stop_after then wrk.thread:stop() end
end


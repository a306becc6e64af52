-- wrk script: one token per request from a file (one token per line), in
-- order, so that each request carries a token the server has not seen.
--   TOKENS=path wrk -s tokens.lua ...      STOP_AFTER=n stops after n responses
--
-- The whole file is kept as one string and walked with a cursor; each
-- request is one short-lived concatenation, so the live heap stays one
-- string and LuaJIT's collector has little to walk.
--
-- LuaJIT (2.1 as Debian ships it) hashes a long string from a few sampled
-- bytes (start, end, middle, quarter). Requests that differ only elsewhere
-- all land in one bucket of its string table, and building them costs more
-- and more: wrk, not the server, became the bottleneck (~5k req/s). Tokens
-- from `attestgate token mint --count` carry a random `did` as their first
-- claim, which puts random bytes at the request's middle.
local path = os.getenv("TOKENS")
local stop_after = tonumber(os.getenv("STOP_AFTER") or "0")
local data, prefix, suffix
local pos = 1
local wrapped = false
local done_count = 0

function init(args)
  local f = assert(io.open(path, "rb"))
  data = f:read("*a")
  f:close()
  local template = wrk.format(nil, nil, { ["Approov-Token"] = "@TOKEN@" })
  local s, e = string.find(template, "@TOKEN@", 1, true)
  prefix, suffix = string.sub(template, 1, s - 1), string.sub(template, e + 1)
end

request = function()
  local e = string.find(data, "\n", pos, true)
  if not e then
    pos = 1
    e = string.find(data, "\n", pos, true)
    if not wrapped then
      wrapped = true
      io.stderr:write("tokens.lua: all tokens used; later requests repeat them (cache hits)\n")
    end
  end
  local token = string.sub(data, pos, e - 1)
  pos = e + 1
  return prefix .. token .. suffix
end

response = function(status)
  done_count = done_count + 1
  if stop_after > 0 and done_count >= stop_after then wrk.thread:stop() end
end

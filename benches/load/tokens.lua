-- wrk script: one token per request from a file (one token per line), in
-- order, so that each request carries a token the server has not seen.
--   TOKENS=path wrk -s tokens.lua ...      STOP_AFTER=n stops after n responses
--
-- Every request is formatted once, in init(), into one big string (requests
-- separated by NUL); request() returns the next one with a single
-- string.sub. Building each request per call (token cut out of the file,
-- then concatenated with the request's head and tail) made wrk itself the
-- source of the fresh-token point's tail: against the bare upstream that
-- script's p99 was 4-18 ms where a fixed header gave 0.6-0.8 ms, with
-- LuaJIT's collector stopped as well (docs/PERFORMANCE.md). This one: 1.1-1.5 ms.
--
-- LuaJIT (2.1 as Debian ships it) hashes a long string from a few sampled
-- bytes (start, end, middle, quarter); tokens from `attestgate token mint
-- --count` carry a random `did` as their first claim, which puts random
-- bytes at the request's middle, so the requests do not all share a bucket.
local path = os.getenv("TOKENS")
local stop_after = tonumber(os.getenv("STOP_AFTER") or "0")
local data
local pos = 1
local wrapped = false
local done_count = 0

function init(args)
  local f = assert(io.open(path, "rb"))
  local raw = f:read("*a")
  f:close()
  local template = wrk.format(nil, nil, { ["Approov-Token"] = "@TOKEN@" })
  local s, e = string.find(template, "@TOKEN@", 1, true)
  local prefix, suffix = string.sub(template, 1, s - 1), string.sub(template, e + 1)
  local parts, n = {}, 0
  for token in string.gmatch(raw, "[^\n]+") do
    n = n + 1
    parts[n] = prefix .. token .. suffix .. "\0"
  end
  data = table.concat(parts)
  parts, raw = nil, nil
  collectgarbage()
end

request = function()
  local e = string.find(data, "\0", pos, true)
  if not e then
    pos = 1
    e = string.find(data, "\0", pos, true)
    if not wrapped then
      wrapped = true
      io.stderr:write("tokens.lua: all tokens used; later requests repeat them (cache hits)\n")
    end
  end
  local r = string.sub(data, pos, e - 1)
  pos = e + 1
  return r
end

response = function(status)
  done_count = done_count + 1
  if stop_after > 0 and done_count >= stop_after then wrk.thread:stop() end
end

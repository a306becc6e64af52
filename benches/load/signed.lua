-- wrk script: one Approov-signed request per line of SIGNED (lines
-- `SIGNATURE<TAB>SIGNATURE-INPUT`, from `sign-requests`), in order, each
-- with the token TOKEN: every request carries a signature the server has
-- not seen (a repeat would be a replay, refused).
--   SIGNED=path TOKEN=jwt wrk -s signed.lua ...
-- `Signature` is sent first: its random bytes sit where LuaJIT samples a
-- string's hash (see tokens.lua).
local path = os.getenv("SIGNED")
local token = os.getenv("TOKEN")
local data, prefix, suffix
local pos = 1
local wrapped = false

function init(args)
  local f = assert(io.open(path, "rb"))
  data = f:read("*a")
  f:close()
  -- one placeholder header, so the order of the three is fixed
  local t = wrk.format(nil, nil, { ["Signature"] = "@S@" })
  local s, e = string.find(t, "@S@", 1, true)
  prefix, suffix = string.sub(t, 1, s - 1), string.sub(t, e + 1)
end

request = function()
  local e = string.find(data, "\n", pos, true)
  if not e then
    pos = 1
    e = string.find(data, "\n", pos, true)
    if not wrapped then
      wrapped = true
      io.stderr:write("signed.lua: all signatures used; later requests are replays\n")
    end
  end
  local line = string.sub(data, pos, e - 1)
  pos = e + 1
  local tab = string.find(line, "\t", 1, true)
  return prefix .. string.sub(line, 1, tab - 1) .. "\r\nSignature-Input: " .. string.sub(line, tab + 1)
    .. "\r\nApproov-Token: " .. token .. suffix
end

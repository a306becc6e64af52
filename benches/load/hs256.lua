-- HS256 check for the nginx + Lua baseline of benches/load.sh: what an
-- OpenResty deployment would do (lua-resty-jwt does the same steps, slower).
-- Signature by HMAC-SHA256 through libcrypto (LuaJIT FFI), claims by cjson,
-- `exp` checked. Not a complete JWT validator: a baseline to beat.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local b64 = require "ngx.base64"

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]
local crypto = ffi.load("libcrypto.so.3")
local sha256 = crypto.EVP_sha256()
local out = ffi.new("unsigned char[32]")
local outlen = ffi.new("unsigned int[1]")

local M = {}
local key

function M.init(secret_b64)
  key = ngx.decode_base64(secret_b64)
  assert(key and #key >= 32, "bad secret")
end

local function reject()
  ngx.status = 401
  ngx.header["Content-Type"] = "application/json"
  ngx.print("{}")
  return ngx.exit(401)
end

function M.check()
  local token = ngx.var.http_approov_token
  if not token then return reject() end
  local h, p, s = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
  if not h then return reject() end
  local input = h .. "." .. p
  crypto.HMAC(sha256, key, #key, input, #input, out, outlen)
  local sig = b64.decode_base64url(s)
  if not sig or sig ~= ffi.string(out, 32) then return reject() end
  local claims = cjson.decode(b64.decode_base64url(p) or "")
  if type(claims) ~= "table" or type(claims.exp) ~= "number" or claims.exp <= ngx.time() then
    return reject()
  end
end

return M

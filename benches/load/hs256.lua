-- HS256 check for the nginx + Lua peer of benches/load.sh: what an
-- OpenResty deployment would do (lua-resty-jwt does the same steps, slower).
-- The JOSE header's `alg` must be exactly "HS256" (a token whose header
-- names HS512 but is signed with HS256 is refused), signature by
-- HMAC-SHA256 through libcrypto (LuaJIT FFI), compared in constant time,
-- header and claims by cjson, `exp` checked. nginx.conf.in strips the
-- token header before proxying. Not a complete JWT validator (no `nbf`,
-- `typ`, `crit`, duplicate members: docs/PERFORMANCE.md has the table):
-- a baseline to beat.
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

-- HTTP: 401 `{}`, keep-alive. gRPC: a trailers-only answer, HTTP 200
-- with grpc-status 16 (UNAUTHENTICATED), as attestgate refuses a call.
local function reject(grpc)
  if grpc then
    ngx.status = 200
    ngx.header["Content-Type"] = "application/grpc"
    ngx.header["grpc-status"] = "16"
    ngx.header["grpc-message"] = "unauthenticated"
    -- headers out first: ngx.exit(200) on a request with nothing sent
    -- yet resets the HTTP/2 stream
    ngx.send_headers()
    return ngx.exit(ngx.HTTP_OK)
  end
  ngx.status = 401
  ngx.header["Content-Type"] = "application/json"
  ngx.print("{}")
  return ngx.exit(401)
end

-- The signature's 32 bytes against the HMAC's, every byte looked at.
local function equal32(sig)
  if #sig ~= 32 then return false end
  local diff = 0
  for i = 0, 31 do
    diff = bit.bor(diff, bit.bxor(sig:byte(i + 1), out[i]))
  end
  return diff == 0
end

function M.check(grpc)
  local token = ngx.var.http_approov_token
  if not token then return reject(grpc) end
  local h, p, s = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
  if not h then return reject(grpc) end
  local header = cjson.decode(b64.decode_base64url(h) or "")
  if type(header) ~= "table" or header.alg ~= "HS256" then return reject(grpc) end
  local input = h .. "." .. p
  crypto.HMAC(sha256, key, #key, input, #input, out, outlen)
  local sig = b64.decode_base64url(s)
  if not sig or not equal32(sig) then return reject(grpc) end
  local claims = cjson.decode(b64.decode_base64url(p) or "")
  if type(claims) ~= "table" or type(claims.exp) ~= "number" or claims.exp <= ngx.time() then
    return reject(grpc)
  end
end

return M

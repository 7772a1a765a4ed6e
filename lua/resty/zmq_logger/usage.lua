-- resty.zmq_logger.usage: the standard API usage record, built from nginx
-- variables and shipped with zmq_logger, in one line of log_by_lua:
--
--     log_by_lua_block { require("resty.zmq_logger.usage").log() }
--
-- The record is one JSON object (fields in this order; absent values are omitted):
--
--   time            request start, epoch seconds with milliseconds
--   request_id      $request_id (or a per-worker generated id, see configure)
--   api_key         request header (default X-API-Key), else query argument
--                   (default api_key)
--   service         $zmq_service if set (e.g. `set $zmq_service billing;`), else
--                   $server_name
--   route           $zmq_route if set, else $uri
--   method          request method
--   uri             $uri (normalised path, no query string)
--   status          response status (number)
--   request_time    $request_time in seconds (number)
--   upstream_time   $upstream_response_time (string: "0.010" or "0.010, 0.020")
--   bytes_sent      $bytes_sent (number)
--   bytes_received  $request_length (number)
--   remote_addr     $remote_addr
--   host            $host
--   user_agent      User-Agent header
--   ...             fields of the `extra` table given to log()/record(), encoded
--                   like zmq_logger.encode (nested tables become JSON objects or
--                   arrays)
--
-- JSON rules: strings and numbers are written by zmq_logger's own encoder (the Rust
-- functions behind zmq_logger.encode, called through FFI), so the record and
-- zmq_logger.encode produce the same bytes:
--   * strings: `"` `\` and bytes below 0x20 are escaped (\b \f \n \r \t, else
--     \u00XX); invalid UTF-8 is replaced by U+FFFD, one per maximal invalid
--     subsequence (as Rust's String::from_utf8_lossy), so the record is valid JSON;
--   * numbers: NaN and +-inf are null; integral values with |n| < 2^63 are written as
--     integers; any other number as the shortest text that reads back as the same
--     double (0.1, 1.5e-7, 1e+300);
--   * in `extra`: a table whose keys are exactly 1..n (n >= 1) is an array, any
--     other table an object (number keys become strings by the number rule, booleans
--     "true"/"false"); ngx.null is null; nesting deeper than 64 levels is an error
--     (record() and log() return nil, err). Values of other types (functions,
--     userdata, ...) are written as their tostring() text (zmq_logger.encode refuses
--     them).
--
-- Speed: the record is built by one flat function into one reused string.buffer and
-- queued from the buffer (no Lua string per request in log()); variables are read
-- through lua-resty-core's FFI entry point and copied straight into the buffer;
-- status, method and times come from their FFI getters. No tables or closures are
-- created per request.
--
-- API (OpenResty style: true on success, nil and a message on failure):
--   usage.configure{ key_header = "X-API-Key", key_arg = "api_key", topic = nil,
--                    user_agent = true, request_id = "variable" }
--       request_id = "variable" (default): $request_id, the id of access logs and
--       proxied headers. nginx draws it from OpenSSL (16 random bytes) the first
--       time it is read in a request, 0.5-1.4 us; when the configuration already
--       uses $request_id that is paid anyway and the read costs ~20 ns.
--       request_id = "worker": 32 hex digits, a random 64-bit prefix per worker
--       process and a 64-bit counter: unique, ~30 ns, unrelated to $request_id.
--       (Measured in BENCHMARKS.md, "Usage record and whole node".)
--   usage.record(extra)   -> JSON string (nil, err if `extra` cannot be encoded)
--   usage.log(extra)      -> true | nil, err  (zmq_logger.log, or publish when a
--                            topic is configured)
--   usage.encode(value)   -> JSON text of a table (nil, err), as above
--   usage.json_string(s)  -> s as a JSON string literal
--   usage.number_text(n)  -> the JSON text of number n
--
-- Failures (queue full, record too large) are not logged by this module: count them
-- with require("zmq_logger").stats().

local zl = require "zmq_logger"
local ffi = require "ffi"
local buffer = require "string.buffer"
local base = require "resty.core.base"
require "resty.core.var"      -- declares ngx_http_lua_ffi_var_get
require "resty.core.request"  -- declares ngx_http_lua_ffi_req_get_method_name
require "resty.core.misc"     -- declares ngx_http_lua_ffi_get_resp_status
require "resty.core.time"     -- declares ngx_http_lua_ffi_now
require "resty.core.worker"   -- declares ngx_http_lua_ffi_worker_pid

local C = ffi.C
local ngx = ngx
local type = type
local pairs = pairs
local next = next
local error = error
local pcall = pcall
local tostring = tostring
local tonumber = tonumber
local rawget = rawget
local rawlen = rawlen or function(t) return #t end -- LuaJIT without 5.2 compat
local str_gsub = string.gsub
local str_byte = string.byte
local str_format = string.format
local math_floor = math.floor
local get_request = base.get_request
local zl_C = zl._C
local zl_strerror = zl.strerror
local ngx_null = ngx.null

local var_get = C.ngx_http_lua_ffi_var_get
local get_method_name = C.ngx_http_lua_ffi_req_get_method_name
local get_resp_status = C.ngx_http_lua_ffi_get_resp_status
local req_start_time = C.ngx_http_lua_ffi_req_start_time
local ffi_now = C.ngx_http_lua_ffi_now
local worker_pid = C.ngx_http_lua_ffi_worker_pid

local _M = { _VERSION = "0.2.0" }

local MAX_NAME = 256 -- longest variable name accepted by configure (key_header, key_arg)

local config = {
    key_var = "http_x_api_key",   -- from key_header "X-API-Key"
    arg_var = "arg_api_key",      -- from key_arg "api_key"
    topic = nil,
    user_agent = true,
    request_id = "variable",
}

local KNOWN = { key_header = "string", key_arg = "string", topic = "string",
                user_agent = "boolean", request_id = "string" }

-- Sets options for this worker (call in init_by_lua or init_worker_by_lua).
function _M.configure(opts)
    if type(opts) ~= "table" then
        return nil, "configure expects a table, got " .. type(opts)
    end
    for k, v in pairs(opts) do
        local want = KNOWN[k]
        if not want then
            return nil, "configure: unknown option \"" .. tostring(k) .. "\""
        end
        if type(v) ~= want then
            return nil, "configure: " .. k .. " must be a " .. want .. ", got " .. type(v)
        end
    end
    if opts.topic == "" then
        return nil, "configure: topic must not be empty"
    end
    if opts.request_id ~= nil and opts.request_id ~= "variable"
            and opts.request_id ~= "worker" then
        return nil, "configure: request_id must be \"variable\" or \"worker\""
    end
    for _, k in ipairs { "key_header", "key_arg" } do
        local v = opts[k]
        if v ~= nil and (v == "" or #v > MAX_NAME - 5) then
            return nil, "configure: " .. k .. " must be 1.." .. (MAX_NAME - 5) .. " bytes"
        end
    end
    for k, v in pairs(opts) do
        if k == "key_header" then
            config.key_var = "http_" .. str_gsub(v:lower(), "-", "_")
        elseif k == "key_arg" then
            config.arg_var = "arg_" .. v
        else
            config[k] = v
        end
    end
    return true
end

---------------------------------------------------------------------------------
-- JSON encoding: strings and numbers are written by zmq_logger's own encoder (Rust,
-- called through FFI), so both produce the same bytes by construction.

local json_string = zl._json_string
local json_number = zl._json_number
local NUMBER_MAX = zl._JSON_NUMBER_MAX
if not (zl_C and json_string and json_number and NUMBER_MAX) then
    error("resty.zmq_logger.usage needs zmq_logger with LuaJIT FFI: "
          .. tostring(zl._FFI_ERROR))
end

-- Appends the n bytes at p (a pointer or a Lua string) as a JSON string literal.
local function put_mem_str(buf, p, n)
    local dst = buf:reserve(n * 6 + 2)
    buf:commit(tonumber(json_string(dst, p, n)))
end

-- Appends s as a JSON string literal.
local function put_str(buf, s)
    put_mem_str(buf, s, #s)
end

-- Appends the JSON text of number v.
local function put_num(buf, v)
    local dst = buf:reserve(NUMBER_MAX)
    buf:commit(tonumber(json_number(dst, v)))
end

local num_buf = buffer.new(NUMBER_MAX)

-- The JSON text of a number.
local function num_text(v)
    num_buf:reset()
    put_num(num_buf, v)
    return num_buf:get()
end
_M.number_text = num_text

local MAX_DEPTH = 64

local put_value

-- Array length of t if its keys are exactly 1..n (n >= 1), else nil.
local function array_len(t)
    local n = rawlen(t)
    if n == 0 then
        return nil
    end
    local count = 0
    for k in next, t do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
            return nil
        end
        count = count + 1
    end
    if count == n then
        return n
    end
    return nil
end

local function put_key(buf, k)
    local tk = type(k)
    if tk == "string" then
        put_str(buf, k)
    elseif tk == "number" then
        buf:put('"')
        put_num(buf, k)
        buf:put('"')
    elseif tk == "boolean" then
        buf:put(k and '"true"' or '"false"')
    else
        error("cannot encode a table key of type " .. tk, 0)
    end
end

local function put_table(buf, t, depth)
    if depth >= MAX_DEPTH then
        error("cannot encode a table nested deeper than " .. MAX_DEPTH
              .. " levels (reference cycle?)", 0)
    end
    local n = array_len(t)
    if n then
        buf:put("[")
        for i = 1, n do
            if i > 1 then
                buf:put(",")
            end
            put_value(buf, rawget(t, i), depth + 1)
        end
        buf:put("]")
        return
    end
    buf:put("{")
    local first = true
    for k, v in next, t do
        if first then
            first = false
        else
            buf:put(",")
        end
        put_key(buf, k)
        buf:put(":")
        put_value(buf, v, depth + 1)
    end
    buf:put("}")
end

put_value = function(buf, v, depth)
    local t = type(v)
    if t == "string" then
        put_str(buf, v)
    elseif t == "number" then
        put_num(buf, v)
    elseif t == "boolean" then
        buf:put(v and "true" or "false")
    elseif t == "table" then
        put_table(buf, v, depth)
    elseif v == nil or v == ngx_null then
        buf:put("null")
    else
        put_str(buf, tostring(v))
    end
end

local enc_buf = buffer.new(256)

-- JSON text of a table (the same bytes as zmq_logger.encode for what both accept).
function _M.encode(t)
    if type(t) ~= "table" then
        return nil, "encode expects a table, got " .. type(t)
    end
    enc_buf:reset()
    local ok, err = pcall(put_table, enc_buf, t, 0)
    if not ok then
        enc_buf:reset()
        return nil, err
    end
    return enc_buf:get()
end

function _M.json_string(s)
    enc_buf:reset()
    put_str(enc_buf, s)
    return enc_buf:get()
end

---------------------------------------------------------------------------------
-- The record

local buf = buffer.new(1024)
local val_ptr = ffi.new("unsigned char *[1]")
local val_len = ffi.new("size_t[1]")
local err_ptr = ffi.new("char *[1]")
local name_buf = ffi.new("char[?]", MAX_NAME)
local method_ptr = ffi.new("unsigned char *[1]")
local method_len = ffi.new("size_t[1]")

-- Per-worker request ids: 16 random hex digits fixed per worker process + a 16-digit
-- counter.
local id_pid, id_prefix, id_count = -1, nil, 0

local function new_id_prefix()
    local f = io.open("/dev/urandom", "rb")
    local bytes = f and f:read(8)
    if f then
        f:close()
    end
    if not bytes or #bytes ~= 8 then
        -- no /dev/urandom: time and pid (still unique per worker)
        bytes = str_format("%08x", worker_pid()) .. str_format("%.6f", ngx.now())
    end
    local a, b, c, d, e, f2, g, h = str_byte(bytes, 1, 8)
    return str_format("%02x%02x%02x%02x%02x%02x%02x%02x", a, b, c, d, e, f2, g, h)
end

-- Builds the record of request r into buf.
--
-- One flat function on purpose: LuaJIT compiles it as one trace per request path.
-- Small helper functions would each become a root trace whose side exits cannot
-- return into this frame ("NYI: return to lower frame") and would then run in the
-- interpreter, where every FFI call costs ten times more.
local function build(r)
    buf:reset()
    local start = tonumber(req_start_time(r))
    buf:putf('{"time":%.3f', start)
    local n, dst

    -- request_id: 32 hex digits
    if config.request_id == "worker" then
        local pid = worker_pid()
        if pid ~= id_pid then
            id_pid, id_prefix, id_count = pid, new_id_prefix(), 0
        end
        id_count = id_count + 1
        local hi = math_floor(id_count / 4294967296)
        buf:putf(',"request_id":"%s%08x%08x"', id_prefix, hi, id_count - hi * 4294967296)
    elseif var_get(r, "request_id", 10, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        buf:put(',"request_id":"'):putcdata(val_ptr[0], tonumber(val_len[0])):put('"')
    end

    -- api_key: header, else query argument (escaped)
    local name = config.key_var
    n = 0
    if var_get(r, name, #name, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        n = tonumber(val_len[0])
    end
    if n == 0 then
        name = config.arg_var
        if var_get(r, name, #name, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
            n = tonumber(val_len[0])
        end
    end
    if n > 0 then
        buf:put(',"api_key":')
        dst = buf:reserve(n * 6 + 2)
        buf:commit(tonumber(json_string(dst, val_ptr[0], n)))
    end

    -- service: $zmq_service, else $server_name (escaped)
    n = 0
    if var_get(r, "zmq_service", 11, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        n = tonumber(val_len[0])
    end
    if n == 0 and var_get(r, "server_name", 11, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        n = tonumber(val_len[0])
    end
    if n > 0 then
        buf:put(',"service":')
        dst = buf:reserve(n * 6 + 2)
        buf:commit(tonumber(json_string(dst, val_ptr[0], n)))
    end

    -- route: $zmq_route, else $uri; uri: $uri (escaped)
    local uri, uri_len = nil, 0
    if var_get(r, "uri", 3, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        uri, uri_len = val_ptr[0], tonumber(val_len[0])
    end
    n = 0
    if var_get(r, "zmq_route", 9, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        n = tonumber(val_len[0])
    end
    if n > 0 then
        buf:put(',"route":')
        dst = buf:reserve(n * 6 + 2)
        buf:commit(tonumber(json_string(dst, val_ptr[0], n)))
    elseif uri then
        buf:put(',"route":')
        dst = buf:reserve(uri_len * 6 + 2)
        buf:commit(tonumber(json_string(dst, uri, uri_len)))
    end

    -- method: the request line's method name (nginx accepts A-Z, '_' and '-' only)
    if get_method_name(r, method_ptr, method_len) == 0 then
        buf:put(',"method":"'):putcdata(method_ptr[0], tonumber(method_len[0])):put('"')
    end

    if uri then
        buf:put(',"uri":')
        dst = buf:reserve(uri_len * 6 + 2)
        buf:commit(tonumber(json_string(dst, uri, uri_len)))
    end

    local status = get_resp_status(r)
    if status >= 0 then
        buf:put(',"status":', status)
    end

    -- request_time: $request_time is whole milliseconds between the request start
    -- and nginx's cached current time, which is what ngx.now() returns.
    local ms = math_floor((tonumber(ffi_now()) - start) * 1000 + 0.5)
    if ms < 0 then
        ms = 0
    end
    buf:put(',"request_time":')
    dst = buf:reserve(NUMBER_MAX)
    buf:commit(tonumber(json_number(dst, ms / 1000)))

    -- Values nginx writes with safe bytes only (digits, ", ", " : ", addresses):
    -- copied as they are.
    if var_get(r, "upstream_response_time", 22, name_buf, 0, val_ptr, val_len, err_ptr) == 0
            and val_len[0] > 0 then
        buf:put(',"upstream_time":"'):putcdata(val_ptr[0], tonumber(val_len[0])):put('"')
    end
    if var_get(r, "bytes_sent", 10, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        buf:put(',"bytes_sent":'):putcdata(val_ptr[0], tonumber(val_len[0]))
    end
    if var_get(r, "request_length", 14, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        buf:put(',"bytes_received":'):putcdata(val_ptr[0], tonumber(val_len[0]))
    end
    if var_get(r, "remote_addr", 11, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        buf:put(',"remote_addr":"'):putcdata(val_ptr[0], tonumber(val_len[0])):put('"')
    end

    -- host, user_agent (escaped)
    if var_get(r, "host", 4, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        n = tonumber(val_len[0])
        if n > 0 then
            buf:put(',"host":')
            dst = buf:reserve(n * 6 + 2)
            buf:commit(tonumber(json_string(dst, val_ptr[0], n)))
        end
    end
    if config.user_agent
            and var_get(r, "http_user_agent", 15, name_buf, 0, val_ptr, val_len, err_ptr) == 0 then
        n = tonumber(val_len[0])
        buf:put(',"user_agent":')
        dst = buf:reserve(n * 6 + 2)
        buf:commit(tonumber(json_string(dst, val_ptr[0], n)))
    end
end

-- Appends the fields of `extra` and closes the record.
local function build_extra(extra)
    for k, v in next, extra do
        buf:put(",")
        put_key(buf, k)
        buf:put(":")
        put_value(buf, v, 1)
    end
end

-- Builds the usage record of the current request into buf; nil, err when `extra`
-- cannot be encoded.
local function build_record(extra)
    local r = get_request()
    if not r then
        error("no request found", 3)
    end
    build(r)
    if type(extra) == "table" then
        local ok, err = pcall(build_extra, extra)
        if not ok then
            buf:reset()
            return nil, err
        end
    end
    buf:put("}")
    return true
end

-- Builds the usage record of the current request as a JSON string. `extra`
-- (optional) is a table of additional top-level fields.
function _M.record(extra)
    local ok, err = build_record(extra)
    if not ok then
        return nil, err
    end
    return buf:get()
end

-- Builds the record and queues it (zmq_logger.log, or zmq_logger.publish with the
-- configured topic) straight from the buffer, without making a Lua string of it.
-- Returns true, or nil and the reason.
function _M.log(extra)
    local ok, err = build_record(extra)
    if not ok then
        return nil, err
    end
    local p, n = buf:ref()
    local topic = config.topic
    local rc
    if topic then
        rc = zl_C.zmq_adaptor_publish(topic, #topic, p, n)
    else
        rc = zl_C.zmq_adaptor_log(p, n)
    end
    buf:reset()
    if rc == 0 then
        return true
    end
    return nil, zl_strerror(rc)
end

return _M

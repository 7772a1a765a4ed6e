-- resty.zmq_logger.usage: the standard API usage record, built from nginx
-- variables and shipped with zmq_logger, in one line of log_by_lua:
--
--     log_by_lua_block { require("resty.zmq_logger.usage").log() }
--
-- The record is one JSON object (fields in this order; absent values are omitted):
--
--   time            request start, epoch seconds with milliseconds
--   request_id      $request_id
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
--   ...             fields of the `extra` table given to log()/record()
--
-- Strings are escaped for JSON; invalid UTF-8 bytes become U+FFFD, so the record is
-- always valid JSON.
--
-- API (OpenResty style: true on success, nil and a message on failure):
--   usage.configure{ key_header = "X-API-Key", key_arg = "api_key", topic = nil,
--                    user_agent = true }
--   usage.record(extra)   -> JSON string
--   usage.log(extra)      -> true | nil, err  (zmq_logger.log, or publish when a
--                            topic is configured)
--
-- Failures (queue full, record too large) are not logged by this module: count them
-- with require("zmq_logger").stats().

local zl = require "zmq_logger"

local ngx = ngx
local ngx_var = ngx.var
local ngx_req = ngx.req
local type = type
local pairs = pairs
local tostring = tostring
local tonumber = tonumber
local str_find = string.find
local str_gsub = string.gsub
local str_byte = string.byte
local str_sub = string.sub
local str_format = string.format
local str_char = string.char
local tbl_concat = table.concat
local math_huge = math.huge
local zl_log = zl.log
local zl_publish = zl.publish

local _M = { _VERSION = "0.1.0" }

local config = {
    key_var = "http_x_api_key",   -- from key_header "X-API-Key"
    arg_var = "arg_api_key",      -- from key_arg "api_key"
    topic = nil,
    user_agent = true,
}

local KNOWN = { key_header = "string", key_arg = "string", topic = "string",
                user_agent = "boolean" }

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

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
              ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t', ['\127'] = '\\u007f' }
for i = 0, 31 do
    local c = str_char(i)
    if not ESC[c] then
        ESC[c] = str_format("\\u%04x", i)
    end
end

local REPLACEMENT = "\239\191\189" -- U+FFFD

-- Replaces invalid UTF-8 sequences by U+FFFD (rare path: only for non-ASCII input).
local function fix_utf8(s)
    local out, n, i, len = {}, 0, 1, #s
    local start = 1
    while i <= len do
        local c = str_byte(s, i)
        local need, min
        if c < 0x80 then
            need = 0
        elseif c >= 0xC2 and c <= 0xDF then
            need, min = 1, 0x80
        elseif c >= 0xE0 and c <= 0xEF then
            need, min = 2, 0x800
        elseif c >= 0xF0 and c <= 0xF4 then
            need, min = 3, 0x10000
        else
            need = -1
        end
        local ok = need >= 0
        if ok and need > 0 then
            local cp = c % (2 ^ (6 - need))
            for j = 1, need do
                local cc = str_byte(s, i + j)
                if not cc or cc < 0x80 or cc > 0xBF then
                    ok = false
                    break
                end
                cp = cp * 64 + (cc - 0x80)
            end
            if ok and (cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF)) then
                ok = false
            end
        end
        if ok then
            i = i + need + 1
        else
            n = n + 1
            out[n] = str_sub(s, start, i - 1)
            n = n + 1
            out[n] = REPLACEMENT
            i = i + 1
            start = i
        end
    end
    if n == 0 then
        return s
    end
    n = n + 1
    out[n] = str_sub(s, start)
    return tbl_concat(out, "", 1, n)
end

local function json_str(s)
    if str_find(s, '[%z\1-\31"\\\127]') then
        s = str_gsub(s, '[%z\1-\31"\\\127]', ESC)
    end
    if str_find(s, "[\128-\255]") then
        s = fix_utf8(s)
    end
    return '"' .. s .. '"'
end
_M.json_string = json_str

local function json_num(v)
    if v ~= v or v == math_huge or v == -math_huge then
        return "null"
    end
    if v % 1 == 0 and v > -1e15 and v < 1e15 then
        return str_format("%d", v)
    end
    return str_format("%.17g", v)
end

local buf = {}

local function add(n, key, value)
    if value == nil then
        return n
    end
    local t = type(value)
    local enc
    if t == "string" then
        enc = json_str(value)
    elseif t == "number" then
        enc = json_num(value)
    elseif t == "boolean" then
        enc = value and "true" or "false"
    else
        enc = json_str(tostring(value))
    end
    n = n + 1
    buf[n] = (n == 1 and "{" or ",") .. key .. ":" .. enc
    return n
end

local function add_raw(n, key, enc)
    n = n + 1
    buf[n] = (n == 1 and "{" or ",") .. key .. ":" .. enc
    return n
end

local function nonempty(v)
    if v == nil or v == "" then
        return nil
    end
    return v
end

-- Builds the usage record of the current request as a JSON string. `extra`
-- (optional) is a table of additional top-level fields.
function _M.record(extra)
    local var = ngx_var
    local n = 0
    n = add_raw(n, '"time"', str_format("%.3f", ngx_req.start_time()))
    n = add(n, '"request_id"', var.request_id)
    n = add(n, '"api_key"', nonempty(var[config.key_var]) or nonempty(var[config.arg_var]))
    n = add(n, '"service"', nonempty(var.zmq_service) or nonempty(var.server_name))
    n = add(n, '"route"', nonempty(var.zmq_route) or var.uri)
    n = add(n, '"method"', var.request_method)
    n = add(n, '"uri"', var.uri)
    n = add(n, '"status"', tonumber(var.status) or ngx.status)
    n = add(n, '"request_time"', tonumber(var.request_time))
    n = add(n, '"upstream_time"', nonempty(var.upstream_response_time))
    n = add(n, '"bytes_sent"', tonumber(var.bytes_sent))
    n = add(n, '"bytes_received"', tonumber(var.request_length))
    n = add(n, '"remote_addr"', var.remote_addr)
    n = add(n, '"host"', nonempty(var.host))
    if config.user_agent then
        n = add(n, '"user_agent"', var.http_user_agent)
    end
    if type(extra) == "table" then
        for k, v in pairs(extra) do
            n = add(n, json_str(tostring(k)), v)
        end
    end
    if n == 0 then
        return "{}"
    end
    n = n + 1
    buf[n] = "}"
    return tbl_concat(buf, "", 1, n)
end

-- Builds the record and queues it (zmq_logger.log, or zmq_logger.publish with the
-- configured topic). Returns true, or nil and the reason.
function _M.log(extra)
    local rec = _M.record(extra)
    local topic = config.topic
    if topic then
        return zl_publish(topic, rec)
    end
    return zl_log(rec)
end

return _M

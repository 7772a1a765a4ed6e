-- Lua half of the `zmq_logger` module, embedded in zmq_logger.so (never put this
-- file on package.path: it is not a module by itself and would shadow the .so).
--
-- Receives the table of Rust-implemented functions and returns the module table.
-- `log(string)` and `publish(string, string)` call libzmq_adaptor.so through LuaJIT
-- FFI; every other case (tables, bad input) goes to the Rust functions.

local native = ...

local type = type
local error_msgs = native.errors
local native_log = native.log
local native_publish = native.publish

local _M = {
    _VERSION = native.version,
    _ABI = native.abi,
    _LIBRARY = native.library,
    configure = native.configure,
    stats = native.stats,
    flush = native.flush,
    encode = native.encode,
    strerror = native.strerror,
}

local function reason(rc)
    return error_msgs[rc] or ("error code " .. rc)
end

local EMPTY_RECORD = reason(2)

-- Prototypes of the core library, copied from include/zmq_adaptor.h at build time
-- (build.rs), one per line. Each is declared on its own so that an identical or
-- compatible declaration made earlier by other code in the same LuaJIT state
-- (another binding of the same library) is not an error.
local CDEFS = {}
for line in native.cdefs:gmatch("[^\n]+") do
    CDEFS[#CDEFS + 1] = line
end

local function load_ffi()
    local ok, ffi = pcall(require, "ffi")
    if not ok or type(ffi) ~= "table" then
        return nil, "LuaJIT FFI not available"
    end
    for _, decl in ipairs(CDEFS) do
        pcall(ffi.cdef, decl)
    end
    local ok_load, lib = pcall(ffi.load, native.library)
    if not ok_load then
        return nil, lib
    end
    -- Check that the declarations in effect work before relying on them. strerror
    -- has no side effect (it does not start the logger).
    local ok_call, s = pcall(function()
        return ffi.string(lib.zmq_adaptor_strerror(0))
    end)
    if not ok_call or s ~= error_msgs[0] then
        return nil, "FFI declarations of zmq_adaptor_* are incompatible"
    end
    local ok_sym = pcall(function()
        return lib.zmq_adaptor_log, lib.zmq_adaptor_publish
    end)
    if not ok_sym then
        return nil, "FFI cannot resolve zmq_adaptor_log/zmq_adaptor_publish"
    end
    return lib
end

local C, ffi_err = load_ffi()
_M._FFI = C ~= nil
_M._FFI_ERROR = ffi_err

-- JSON helpers of this module (Rust, the same rules as encode()), for
-- resty.zmq_logger.usage: function pointers callable through FFI.
--   _json_string(dst, src, len) -> bytes written; dst needs room for 6 * len + 2
--   _json_number(dst, n) -> bytes written; dst needs room for _JSON_NUMBER_MAX
--   _C: the FFI namespace of libzmq_adaptor.so (zmq_adaptor_log/publish), for
--   callers that pass a pointer and a length instead of a Lua string.
if C then
    local ffi = require "ffi"
    _M._C = C
    _M._json_string = ffi.cast("size_t (*)(uint8_t *, const uint8_t *, size_t)",
                               native.json_string_fn)
    _M._json_number = ffi.cast("size_t (*)(uint8_t *, double)", native.json_number_fn)
    _M._JSON_NUMBER_MAX = native.json_number_max
end

if C then
    -- Queues one record. A string is sent as is; a table is sent as JSON.
    function _M.log(record)
        if type(record) == "string" then
            local n = #record
            if n == 0 then
                return nil, EMPTY_RECORD
            end
            local rc = C.zmq_adaptor_log(record, n)
            if rc == 0 then
                return true
            end
            return nil, reason(rc)
        end
        return native_log(record)
    end

    -- Queues a two-frame message [topic, record].
    function _M.publish(topic, record)
        if type(topic) == "string" and type(record) == "string" then
            local tn, n = #topic, #record
            if tn == 0 or n == 0 then
                return nil, EMPTY_RECORD
            end
            local rc = C.zmq_adaptor_publish(topic, tn, record, n)
            if rc == 0 then
                return true
            end
            return nil, reason(rc)
        end
        return native_publish(topic, record)
    end
else
    _M.log = native_log
    _M.publish = native_publish
end

return _M

# ABI drift check: the C ABI compiled into zmq_logger.so (generated from
# include/zmq_adaptor.h by lua/zmq_logger/build.rs) against the header as it is now,
# read here with LuaJIT's own C parser: struct sizes, field names, order and
# offsets, result code names and values, strerror texts, the prototypes of the FFI
# fast path, every config field a configure{} option, every stats field in stats().
# Fails when the header changed and zmq_logger.so was not rebuilt from it.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: the binding's ABI is the header's
--- config
location = /t {
    content_by_lua_block {
        local ffi = require "ffi"
        local zl = require "zmq_logger"
        local abi = zl._ABI
        local f = assert(io.open("$TEST_NGINX_ROOT/include/zmq_adaptor.h"))
        local h = f:read("*a")
        f:close()
        h = h:gsub("/%*.-%*/", ""):gsub("//[^\n]*", ""):gsub("\n#[^\n]*", "\n")
        local function squash(s) return (s:gsub("%s+", " ")) end
        local bad = 0
        local function check(ok, msg)
            if not ok then
                bad = bad + 1
                ngx.say("DRIFT: ", msg)
            end
        end

        -- Structs: LuaJIT parses the header's definition (under a private name).
        for _, name in ipairs { "zmq_adaptor_config", "zmq_adaptor_stats" } do
            local body = h:match("typedef struct " .. name .. "%s*(%b{})")
            check(body, name .. " not found in the header")
            local mine = abi.structs[name]
            if body then
                local t = "abi_check_" .. name
                ffi.cdef("typedef struct " .. t .. " " .. body .. " " .. t .. ";")
                check(ffi.sizeof(t) == mine.size, string.format("sizeof(%s): header %d, binding %d",
                      name, ffi.sizeof(t), mine.size))
                local names = {}
                for decl in body:sub(2, -2):gmatch("([^;]+);") do
                    names[#names + 1] = decl:match("([%w_]+)%s*$")
                end
                check(#names == #mine.fields, string.format("%s: header has %d fields, binding %d",
                      name, #names, #mine.fields))
                for i, fname in ipairs(names) do
                    local m = mine.fields[i]
                    check(m and m.name == fname, string.format("%s field %d: header %s, binding %s",
                          name, i, fname, m and m.name or "none"))
                    if m and m.name == fname then
                        check(ffi.offsetof(t, fname) == m.offset, string.format(
                              "offsetof(%s, %s): header %d, binding %d", name, fname,
                              ffi.offsetof(t, fname), m.offset))
                    end
                end
                ngx.say(name, ": checked")
            end
        end

        -- Result codes and their texts.
        local enum = h:match("typedef enum zmq_adaptor_result%s*(%b{})")
        local n, max = 0, -1
        for cname, v in enum:gmatch("([%w_]+)%s*=%s*(%-?%d+)") do
            v = tonumber(v)
            n = n + 1
            if v > max then max = v end
            check(abi.codes[cname] == v, string.format("%s: header %d, binding %s", cname, v,
                  tostring(abi.codes[cname])))
            local s = zl.strerror(v)
            check(type(s) == "string" and s ~= "" and s ~= "unknown result code",
                  string.format("strerror(%d) (%s) = %q", v, cname, tostring(s)))
        end
        local m = 0
        for _ in pairs(abi.codes) do m = m + 1 end
        check(n == m, string.format("result codes: header %d, binding %d", n, m))
        check(zl.strerror(max + 1) == "unknown result code",
              "the library knows a code the header does not: " .. (max + 1))
        ngx.say("result codes: checked")

        -- The FFI fast path declares the header's prototypes.
        local sq = squash(h)
        for line in abi.cdefs:gmatch("[^\n]+") do
            check(sq:find(line, 1, true), "prototype not in the header: " .. line)
        end
        check(zl._FFI, "FFI fast path off: " .. tostring(zl._FFI_ERROR))
        ngx.say("prototypes: checked")

        -- Every config field is a configure{} option (a wrong type is refused by name,
        -- before the library is called), every stats field is in stats().
        for _, fld in ipairs(abi.structs.zmq_adaptor_config.fields) do
            local ok, err = zl.configure { [fld.name] = {} }
            check(not ok and err:find(fld.name, 1, true) and not err:find("unknown option"),
                  "configure{" .. fld.name .. "}: " .. tostring(err))
        end
        local st = assert(zl.stats())
        local count = 0
        for k, v in pairs(st) do
            count = count + 1
            check(type(v) == "number", "stats." .. k)
        end
        local fields = abi.structs.zmq_adaptor_stats.fields
        for _, fld in ipairs(fields) do
            check(st[fld.name] ~= nil, "stats() lacks " .. fld.name)
        end
        check(count == #fields, "stats() has " .. count .. " counters, the struct " .. #fields)
        ngx.say("options and counters: checked")
        ngx.say(bad == 0 and "no drift" or (bad .. " problem(s)"))
    }
}
--- request
GET /t
--- response_body
zmq_adaptor_config: checked
zmq_adaptor_stats: checked
result codes: checked
prototypes: checked
options and counters: checked
no drift



=== TEST 2: configure{} sets string fields (endpoint) and refuses bad values by name
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.configure{ endpoint = "" })
        ngx.say(zl.configure{ endpoint = "a\0b" })
        ngx.say(zl.configure{ endpoint = 5 })
        ngx.say(zl.configure{ send_hwm = 2^32 })
        ngx.say(zl.configure{ queue_records = -1 })
        ngx.say(zl.configure{ no_such_option = 1 })
        ngx.say(zl.configure{ endpoint = "$TEST_NGINX_ZMQ_ENDPOINT", send_hwm = 1000 })
        ngx.say(zl.log("after configure"))
    }
}
--- request
GET /t
--- response_body
nilendpoint must be a non-empty string without NUL bytes
nilendpoint must be a non-empty string without NUL bytes
nilendpoint must be a string, got number
nilbad config: send_hwm must be 1..10000000 (got 4294967296)
nilqueue_records must be a non-negative integer, got -1
nilconfigure: unknown option "no_such_option"
true
true
--- records
after configure

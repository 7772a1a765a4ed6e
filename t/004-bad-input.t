# Bad input never raises a Lua error: log() returns nil and a reason, the request
# still succeeds, and refused records are counted.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: nil, empty, number, boolean, function in content_by_lua
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.log(nil))
        ngx.say(zl.log())
        ngx.say(zl.log(""))
        ngx.say(zl.log(42))
        ngx.say(zl.log(true))
        ngx.say(zl.log(print))
        ngx.say(zl.log("good"))
    }
}
--- request
GET /t
--- response_body
nilrecord must be a string or a table, got nil
nilrecord must be a string or a table, got nil
nilempty record or topic
nilrecord must be a string or a table, got number
nilrecord must be a string or a table, got boolean
nilrecord must be a string or a table, got function
true
--- records
good



=== TEST 2: oversized records are refused and counted; the request still succeeds
--- http_config
init_by_lua_block {
    assert(require("zmq_logger").configure{ max_record_bytes = 1000 })
}
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.log(string.rep("x", 1001)))
        ngx.say(zl.log({ s = string.rep("y", 2000) }))
        ngx.say(zl.publish("topic", string.rep("z", 999)))
        ngx.say(zl.log(string.rep("x", 1000)))
        local s = zl.stats()
        ngx.say("too_large=", s.dropped_too_large, " enqueued=", s.enqueued)
    }
}
--- request
GET /t
--- response_body
nilrecord larger than max_record_bytes
nilrecord larger than max_record_bytes
nilrecord larger than max_record_bytes
true
too_large=3 enqueued=1
--- record_count: 1



=== TEST 3: bad input in log_by_lua: the response is unaffected (200), nothing is sent
--- config
location = /t {
    content_by_lua_block { ngx.say("fine") }
    log_by_lua_block {
        local zl = require "zmq_logger"
        local results = {}
        for _, v in ipairs({ "", 0, false }) do
            local ok, err = zl.log(v)
            results[#results + 1] = tostring(ok) .. ":" .. tostring(err)
        end
        local ok, err = zl.log(nil)
        results[#results + 1] = tostring(ok) .. ":" .. tostring(err)
        ngx.log(ngx.WARN, "results: ", table.concat(results, "|"))
    }
}
--- request
GET /t
--- repeat: 3
--- response_body
fine
--- error_log
results: nil:empty record or topic|nil:record must be a string or a table, got number|nil:record must be a string or a table, got boolean|nil:record must be a string or a table, got nil



=== TEST 4: configure() with bad values returns nil, err
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.configure{ bogus = 1 })
        ngx.say(zl.configure{ queue_records = -1 })
        ngx.say(zl.configure{ queue_records = 1.5 })
        ngx.say(zl.configure{ linger_ms = "x" })
        ngx.say(zl.configure{ send_hwm = 2^40 })
        ngx.say(zl.configure{ endpoint = 5 })
        ngx.say(zl.configure{ endpoint = "nonsense" })
        ngx.say(zl.configure("x"))
        ngx.say(zl.flush(-1))
        ngx.say(zl.flush("soon"))
    }
}
--- request
GET /t
--- response_body
nilconfigure: unknown option "bogus"
nilqueue_records must be a non-negative integer, got -1
nilqueue_records must be a non-negative integer, got 1.5
nillinger_ms must be a non-negative integer, got string
nilsend_hwm must be at most 4294967295, got 1099511627776
nilendpoint must be a string, got number
nilbad endpoint: expected tcp://host:port, ipc:///path or inproc://name
nilconfigure expects a table, got string
nilflush timeout must be a non-negative number of seconds
nilflush timeout must be a number of seconds, got string



=== TEST 5: configure() after the first record gives nil, err (already started)
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        assert(zl.log("first"))
        ngx.say(zl.configure{ queue_records = 10 })
        ngx.say(zl._VERSION ~= nil, " ", zl.strerror(4), " ", zl.strerror(999))
    }
}
--- request
GET /t
--- response_body
nillogger already started in this process; configure before the first record
true queue full: record dropped and counted unknown result code
--- records
first

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
nilbad config: send_hwm must be 1..10000000 (got 1099511627776)
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



=== TEST 6: absurd sizes: nil, "bad config: <field> must be <min>..<max> (got <value>)"
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.configure{ queue_records = 2^26 })
        ngx.say(zl.configure{ queue_bytes = 2^31 })
        ngx.say(zl.configure{ max_record_bytes = 2^25 })
        ngx.say(zl.configure{ max_record_bytes = 2000, queue_bytes = 1000 })
        ngx.say(zl.configure{ batch_interval_us = 10 })
        ngx.say(zl.configure{ batch_records = 2^21 })
        ngx.say(zl.configure{ linger_ms = 600001 })
        ngx.say(zl.configure{ queue_records = 2^70 })
        -- The bounds themselves are accepted; nothing was stored by the refusals.
        ngx.say(zl.configure{ queue_records = 1048576, queue_bytes = 2^30,
                              max_record_bytes = 2^24, linger_ms = 600000 })
        ngx.say(zl.configure{ queue_records = 1000 })
        assert(zl.log("after"))
        ngx.say(zl.stats().enqueued)
    }
}
--- request
GET /t
--- response_body
nilbad config: queue_records must be 1..1048576 (got 67108864)
nilbad config: queue_bytes must be 1..1073741824 (got 2147483648)
nilbad config: max_record_bytes must be 1..16777216 (got 33554432)
nilbad config: max_record_bytes must not exceed queue_bytes (got 2000 > 1000)
nilbad config: batch_interval_us must be 50..10000000 (got 10)
nilbad config: batch_records must be 1..1048576 (got 2097152)
nilbad config: linger_ms must be 0..600000 (got 600001)
nilbad config: queue_records must be 1..1048576 (got 1180591620717411300000)
true
true
1
--- records
after



=== TEST 7: an absurd queue_records in init_by_lua: every worker runs on, with the defaults
--- workers: 2
--- http_config
init_by_lua_block {
    local ok, err = require("zmq_logger").configure{ queue_records = 2^26 }
    if not ok then ngx.log(ngx.WARN, "zmq_logger: ", err) end
}
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block { assert(require("zmq_logger").log("rec")) }
}
--- request
GET /t
--- repeat: 4
--- response_body
ok
--- record_count: 4
--- records_like: ^rec$
--- error_log
zmq_logger: bad config: queue_records must be 1..1048576 (got 67108864)
--- no_error_log
exited on signal

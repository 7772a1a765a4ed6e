# A full queue refuses records with nil, "queue full..." and stats() counts them
# exactly; the accepted ones are still delivered.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: record bound: 5 accepted, 3 dropped, exact counts; the 5 arrive later
--- adaptor: down
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ queue_records = 5 }) }
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 8 do
            local ok, err = zl.log("r" .. i)
            ngx.say(i, " ", tostring(ok), " ", tostring(err))
        end
        local s = zl.stats()
        ngx.say("enqueued=", s.enqueued, " dropped_queue_full=", s.dropped_queue_full,
                " queue_records=", s.queue_records, " queue_bytes=", s.queue_bytes,
                " sent=", s.sent)
    }
}
location = /delivered {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local ok = zl.flush(10)
        local s = zl.stats()
        ngx.say(s.sent, " ", s.dropped_queue_full)
        if not ok or s.sent ~= 5 or s.dropped_queue_full ~= 3 then ngx.exit(500) end
    }
}
--- request
GET /t
--- response_body
1 true nil
2 true nil
3 true nil
4 true nil
5 true nil
6 nil queue full: record dropped and counted
7 nil queue full: record dropped and counted
8 nil queue full: record dropped and counted
enqueued=5 dropped_queue_full=3 queue_records=5 queue_bytes=10 sent=0
--- steps
adaptor_up
request GET /delivered
--- records
r1
r2
r3
r4
r5



=== TEST 2: byte bound: 3 records of 30 bytes fit in 100 bytes, the 4th does not
--- adaptor: down
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ queue_bytes = 100, max_record_bytes = 100, linger_ms = 200 }) }
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local rec = string.rep("b", 30)
        for i = 1, 5 do
            local ok, err = zl.log(rec)
            ngx.say(i, " ", tostring(ok), " ", tostring(err))
        end
        ngx.say(zl.log(string.rep("s", 10)))
        local s = zl.stats()
        ngx.say("enqueued=", s.enqueued, " dropped_queue_full=", s.dropped_queue_full,
                " queue_bytes=", s.queue_bytes)
    }
}
--- request
GET /t
--- response_body
1 true nil
2 true nil
3 true nil
4 nil queue full: record dropped and counted
5 nil queue full: record dropped and counted
true
enqueued=4 dropped_queue_full=2 queue_bytes=100
--- error_log
[error]
zmq_logger: exit: 
undelivered=4 
4 record(s) not delivered



=== TEST 3: drops in log_by_lua under load never fail requests; counts add up
--- adaptor: down
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ queue_records = 10, linger_ms = 200 }) }
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block {
        local ok, err = require("zmq_logger").log("x")
        if not ok and err ~= "queue full: record dropped and counted" then
            ngx.log(ngx.ERR, "unexpected: ", err)
        end
    }
}
location = /stats {
    content_by_lua_block {
        local s = require("zmq_logger").stats()
        ngx.say(s.enqueued, " ", s.dropped_queue_full)
        -- 25 requests, 1 worker: 10 fit, 15 dropped.
        if s.enqueued ~= 10 or s.dropped_queue_full ~= 15 then ngx.exit(500) end
    }
}
--- request
GET /t
--- repeat: 25
--- response_body
ok
--- steps
request GET /stats
--- error_log
[error]
zmq_logger: exit: 
undelivered=10 
10 record(s) not delivered

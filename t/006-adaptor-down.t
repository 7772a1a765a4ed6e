# While the adaptor is down, records wait in the worker's queue; they are delivered
# once it is up. If it never comes up, the loss is reported at exit.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: records logged while the adaptor is down arrive when it starts
--- adaptor: down
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block { assert(require("zmq_logger").log("down " .. ngx.var.arg_n)) }
}
location = /queued {
    content_by_lua_block {
        local s = require("zmq_logger").stats()
        ngx.say("queued=", s.queue_records, " sent=", s.sent, " peer=", s.peer_subscribed)
        if s.queue_records ~= 5 or s.sent ~= 0 then ngx.exit(500) end
    }
}
location = /delivered {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local ok, err = zl.flush(10)
        local s = zl.stats()
        ngx.say("flush=", tostring(ok), " queued=", s.queue_records, " sent=", s.sent)
        if not ok or s.sent ~= 5 then ngx.exit(500) end
    }
}
--- request
GET /t?n=1
GET /t?n=2
GET /t?n=3
GET /t?n=4
GET /t?n=5
--- response_body
ok
--- steps
sleep 0.5
request GET /queued
adaptor_up
request GET /delivered
--- records
down 1
down 2
down 3
down 4
down 5



=== TEST 2: adaptor never up: queued records are reported as not delivered at exit
--- adaptor: down
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ linger_ms = 300 }) }
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 3 do assert(zl.log("lost " .. i)) end
        ngx.say(zl.flush(0.2))
    }
}
--- request
GET /t
--- response_body
niltimed out
--- error_log
[error]
zmq_logger: exit: 
undelivered=3 
3 record(s) not delivered

# nginx -s quit with records still queued: the workers deliver them at exit.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: 20000 records queued by one request, then nginx -s quit at once
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 20000 do
            local ok, err = zl.log("q" .. i)
            if not ok then ngx.say("failed at ", i, ": ", err) return end
        end
        local s = zl.stats()
        ngx.say("queued ", s.queue_records > 0 and "some" or "none")
    }
}
--- request
GET /t
--- response_body_like: ^queued
--- steps
quit
--- record_count: 20000
--- records_eval
my ($got) = @_;
my %seen;
$seen{$_}++ for @$got;
for my $i (1 .. 20000) { return "q$i missing or duplicated" unless ($seen{"q$i"} // 0) == 1 }
return;
--- timeout: 30



=== TEST 2: quit while wrk runs, 2 workers: every served request has its record
--- workers: 2
--- config
location = /load {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block {
        local ok, err = require("zmq_logger").log(ngx.var.request_id)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
--- steps
load 3 /load 8
sleep 1.5
quit
load_wait
--- records_match_access_log: ^GET /load
--- timeout: 30



=== TEST 3: queued records while the adaptor is down are delivered if it comes up within the linger
--- adaptor: down
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ linger_ms = 8000 }) }
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 100 do assert(zl.log("late" .. i)) end
        ngx.say("ok")
    }
}
--- request
GET /t
--- steps
sleep 0.2
quit_nowait
sleep 0.5
adaptor_up
nginx_wait
--- record_count: 100
--- timeout: 20

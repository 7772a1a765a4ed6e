# nginx -s reload while a load generator runs loses no record: every request
# served (access log) has its record at the subscriber, exactly once.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: two reloads under wrk load, 2 workers: records == requests served
--- workers: 2
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ linger_ms = 5000 }) }
--- config
location = /load {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block {
        local ok, err = require("zmq_logger").log(ngx.var.request_id)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
--- steps
load 5 /load 8
sleep 1.5
reload
sleep 1.5
reload
load_wait
--- records_match_access_log: ^GET /load
--- timeout: 30



=== TEST 2: reload with the usage module, records are complete JSON
--- workers: 2
--- config
location = /load {
    return 200 "ok\n";
    log_by_lua_block { require("resty.zmq_logger.usage").log() }
}
--- steps
load 3 /load 4
sleep 1
reload
load_wait
--- records_like: ^\{"time":[0-9.]+,"request_id":"[0-9a-f]{32}".*"status":200.*\}$
--- records_match_access_log: ^GET /load
--- timeout: 30

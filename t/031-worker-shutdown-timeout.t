# Old workers do not outlive nginx's worker_shutdown_timeout because of the logger:
# with the adaptor down and records queued, a reload's old worker (which also has
# requests in flight that worker_shutdown_timeout cuts) is gone within
# worker_shutdown_timeout + 1 s of the reload.
# The bindings tell the library how nginx shuts a worker down (ngx_exiting,
# worker_shutdown_timeout): the exit wait ends with that timeout (it used to add linger_ms).
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: adaptor down, records queued, requests in flight: old worker gone within 1 s + 1 s
--- main_config
worker_shutdown_timeout 1s;
--- adaptor: down
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block { assert(require("zmq_logger").log("queued " .. ngx.var.request_id)) }
}
location = /slow {
    content_by_lua_block { ngx.sleep(5) ngx.say("late") }
}
--- request
GET /t
--- repeat: 20
--- response_body
ok
--- steps
load 3 /slow 2
sleep 0.5
reload
old_workers_gone 2
load_wait
--- error_log
[error]
zmq_logger: exit: accepted=20 delivered=0 undelivered=20 
not delivered

# nginx must never crash because of us: replacing zmq_logger.so the way `make build`
# does (make module) while nginx runs with the module loaded in the master and the
# workers, then reloading and quitting, leaves no process killed by a signal, and
# records keep flowing from the workers started with the replaced file.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: make module while nginx runs, reload, quit: no signal, records flow
--- workers: 2
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ linger_ms = 3000 }) }
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block { assert(require("zmq_logger").log("rec " .. ngx.var.arg_n)) }
}
--- request
GET /t?n=1
--- steps
request GET /t?n=2
run make -s module
reload
request GET /t?n=3
run make -s module
reload
request GET /t?n=4
quit_clean
--- records
rec 1
rec 2
rec 3
rec 4
--- no_error_log
exited on signal

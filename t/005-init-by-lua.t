# require "zmq_logger" and configure() are safe in init_by_lua (nginx master, before
# fork) and init_worker_by_lua; every worker gets its own logger.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: require + configure in init_by_lua, log from 2 workers
--- workers: 2
--- http_config
init_by_lua_block {
    zmq_logger = require "zmq_logger"
    local ok, err = zmq_logger.configure{ endpoint = "$TEST_NGINX_ZMQ_ENDPOINT",
                                          queue_records = 1000, linger_ms = 3000 }
    if not ok then error("configure: " .. err) end
}
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block { assert(zmq_logger.log(ngx.worker.pid() .. " " .. ngx.var.request_id)) }
}
--- request
GET /t
--- repeat: 40
--- response_body
ok
--- record_count: 40
--- records_eval
my %pids = map { (split / /)[0] => 1 } @{$_[0]};
return keys(%pids) == 2 ? undef : "records from " . keys(%pids) . " worker(s)";
--- records_match_access_log: ^GET /t



=== TEST 2: the master creates no logger: workers start with zero counters
--- http_config
init_by_lua_block {
    local zl = require "zmq_logger"
    assert(zl.configure{ queue_records = 5 })
    local s = zl.stats()
    assert(s.enqueued == 0 and s.sent == 0, "master has counters")
}
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local s = zl.stats()
        ngx.say("before: ", s.enqueued, " ", s.queue_records)
        assert(zl.log("one"))
        assert(zl.flush(5))
        s = zl.stats()
        ngx.say("after: ", s.enqueued, " ", s.sent)
    }
}
--- request
GET /t
--- response_body
before: 0 0
after: 1 1
--- records
one



=== TEST 3: configure in init_worker_by_lua (per worker)
--- workers: 2
--- http_config
init_worker_by_lua_block {
    local ok, err = require("zmq_logger").configure{ endpoint = "$TEST_NGINX_ZMQ_ENDPOINT",
                                                     batch_interval_us = 500 }
    if not ok then ngx.log(ngx.ERR, "configure failed: ", err) end
}
--- config
location = /t {
    return 204;
    log_by_lua_block { assert(require("zmq_logger").log(ngx.var.request_id)) }
}
--- request
GET /t
--- repeat: 20
--- error_code: 204
--- records_match_access_log: ^GET /t



=== TEST 4: a module file zmq_logger.lua is not needed and the module reports its library
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl._FFI, " ", zl._LIBRARY:match("libzmq_adaptor%.so$") ~= nil)
        ngx.say(package.loaded.zmq_logger == zl)
    }
}
--- request
GET /t
--- response_body
true true
true

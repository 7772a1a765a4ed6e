# ngx_http_zmq_log_module: a bad configuration fails nginx -t with a clear message.
use lib 't/lib';
use ZmqNginx;

require_zmq_log_module();
run_tests();

__DATA__

=== TEST 1: unknown log format
--- config
location = /t { zmq_log no_such_format; return 200; }
--- config_error
unknown log format "no_such_format" in "zmq_log"



=== TEST 2: a log_format defined after its use (as with access_log)
--- config
location = /t { zmq_log later; return 200; }
--- http_config
zmq_log later;
log_format later '$uri';
--- config_error
unknown log format "later" in "zmq_log"



=== TEST 3: bad endpoint (the library's own check)
--- http_config
zmq_log_endpoint tcp://127.0.0.1;
--- config_error
invalid value "tcp://127.0.0.1" in "zmq_log_endpoint": bad endpoint



=== TEST 4: unknown transport
--- http_config
zmq_log_endpoint udp://127.0.0.1:5555;
--- config_error
in "zmq_log_endpoint"



=== TEST 5: bad size
--- http_config
zmq_log_queue_bytes 12q;
--- config_error
invalid value "12q" in "zmq_log_queue_bytes": a size



=== TEST 6: zero size
--- http_config
zmq_log_queue_bytes 0;
--- config_error
invalid value "0" in "zmq_log_queue_bytes"



=== TEST 7: queue_records out of the library's range
--- http_config
zmq_log_queue_records 1000000000;
--- config_error
invalid value "1000000000" in "zmq_log_queue_records": configuration value out of range



=== TEST 8: queue_records not a number
--- http_config
zmq_log_queue_records many;
--- config_error
invalid value "many" in "zmq_log_queue_records"



=== TEST 9: unknown parameter
--- http_config
log_format zl '$uri';
--- config
location = /t { zmq_log zl buffer=64k; return 200; }
--- config_error
invalid parameter "buffer=64k" in "zmq_log"



=== TEST 10: zmq_log off takes no parameters
--- config
location = /t { zmq_log off if=$arg_x; return 200; }
--- config_error
"zmq_log off" takes no parameters



=== TEST 11: empty topic
--- http_config
log_format zl '$uri';
--- config
location = /t { zmq_log zl topic=; return 200; }
--- config_error
empty "topic=" in "zmq_log"



=== TEST 12: zmq_log_endpoint only at http level
--- config
zmq_log_endpoint ipc:///tmp/x;
--- config_error
"zmq_log_endpoint" directive is not allowed here



=== TEST 13: duplicate endpoint
--- http_config
zmq_log_endpoint ipc:///tmp/x;
zmq_log_endpoint ipc:///tmp/y;
--- config_error
"zmq_log_endpoint" directive is duplicate

# ngx_http_zmq_log_module: zmq_log_curve_server / zmq_log_curve_secret read the
# certificates `zmq-adaptor keygen` writes, and the workers ship their records over
# tcp + CURVE to an adaptor that admits only listed keys; every mistake fails
# nginx -t with the reason (never a key).
use lib 't/lib';
use ZmqNginx;

require_zmq_log_module();
run_tests();

__DATA__

=== TEST 1: records reach a CURVE adaptor over tcp, exactly the formatted lines
--- setup
t/lib/curve_peer.sh start $TEST_NGINX_ADAPTOR_BIN $TEST_NGINX_SERVROOT/curve $TEST_NGINX_PORT2 $TEST_NGINX_PORT3 3
--- http_config
zmq_log_endpoint tcp://127.0.0.1:$TEST_NGINX_PORT2;
zmq_log_curve_server $TEST_NGINX_SERVROOT/curve/adaptor.key;
zmq_log_curve_secret $TEST_NGINX_SERVROOT/curve/gw.key_secret;
log_format zl_curve '$status "$request" curve';
--- config
location = /t {
    zmq_log zl_curve;
    return 200 "ok\n";
}
--- request
GET /t?n=1
GET /t?n=2
GET /t?n=3
--- response_body
ok
--- steps
run t/lib/curve_peer.sh wait $TEST_NGINX_SERVROOT/curve 3
run test "$(grep -c '^200 "GET /t?n=[123] HTTP/1.1" curve$' $TEST_NGINX_SERVROOT/curve/tail.out)" = 3
run t/lib/curve_peer.sh stop $TEST_NGINX_SERVROOT/curve



=== TEST 2: one without the other
--- setup
t/lib/curve_peer.sh keys $TEST_NGINX_ADAPTOR_BIN $TEST_NGINX_SERVROOT/curve
--- http_config
zmq_log_curve_server $TEST_NGINX_SERVROOT/curve/adaptor.key;
--- config_error
"zmq_log_curve_server" and "zmq_log_curve_secret" go together



=== TEST 3: a public certificate where the secret one belongs
--- http_config
zmq_log_curve_server $TEST_NGINX_SERVROOT/curve/adaptor.key;
zmq_log_curve_secret $TEST_NGINX_SERVROOT/curve/gw.key;
--- config_error
no secret-key



=== TEST 4: a secret certificate others may read
--- setup
chmod 0644 $TEST_NGINX_SERVROOT/curve/gw.key_secret
--- http_config
zmq_log_curve_server $TEST_NGINX_SERVROOT/curve/adaptor.key;
zmq_log_curve_secret $TEST_NGINX_SERVROOT/curve/gw.key_secret;
--- config_error
readable or writable by group/others



=== TEST 5: a file that is not there
--- http_config
zmq_log_curve_server $TEST_NGINX_SERVROOT/curve/nowhere.key;
zmq_log_curve_secret $TEST_NGINX_SERVROOT/curve/gw.key_secret;
--- config_error
nowhere.key



=== TEST 6: given twice
--- http_config
zmq_log_curve_secret a.key_secret;
zmq_log_curve_secret b.key_secret;
--- config_error
"zmq_log_curve_secret" directive is duplicate

# ngx_http_zmq_log_module (nginx/module): zmq_log FORMAT [topic=] [if=] ships the
# records of log_format formats through libzmq_adaptor to the real zmq-adaptor.
use lib 't/lib';
use ZmqNginx;

require_zmq_log_module();
run_tests();

__DATA__

=== TEST 1: 2 workers, every served request arrives exactly once, exactly the formatted line
--- workers: 2
--- http_config
log_format zl_line '$request_id $status "$request"';
--- config
location = /t {
    zmq_log zl_line;
    return 200 "ok\n";
}
--- request
GET /t?a=1
--- repeat: 60
--- response_body
ok
--- record_count: 60
--- records_like: ^[0-9a-f]{32} 200 "GET /t\?a=1 HTTP/1\.1"$
--- records_match_access_log: ^GET /t



=== TEST 2: the JSON usage record (nginx/zmq_log_usage.conf): fields of resty.zmq_logger.usage; set $zmq_service / $zmq_route
--- http_config
include $TEST_NGINX_ROOT/nginx/zmq_log_usage.conf;
--- config
location /api/ {
    zmq_log zmq_usage;
    return 201 "created\n";
}
location /billing/ {
    set $zmq_service billing;
    set $zmq_route "/billing/{id}";
    zmq_log zmq_usage;
    return 201 "created\n";
}
--- request
POST /api/orders?api_key=from-arg
GET /api/items
GET /billing/7
--- more_headers
User-Agent: t/020 "agent"
--- error_code: 201
--- record_count: 3
--- records_eval
use JSON::PP;
my ($got) = @_;
my @order = qw(time request_id api_key service route method uri status request_time
               upstream_time bytes_sent bytes_received remote_addr host user_agent);
my %seen;
for my $line (@$got) {
    my $r = eval { JSON::PP->new->utf8->decode($line) } or return "not JSON: $line ($@)";
    my @keys = $line =~ /"(\w+)":/g;
    return "fields @keys" unless "@keys" eq "@order";
    return "time in $line" unless $line =~ /^\{"time":\d{10}\.\d{3},/ && abs($r->{time} - time) < 60;
    return "request_id $r->{request_id}" unless $r->{request_id} =~ /^[0-9a-f]{32}$/;
    return "status $r->{status}" unless $r->{status} == 201 && $line =~ /"status":201,/;
    return "request_time" unless $line =~ /"request_time":\d+\.\d{3},/;
    return "bytes_sent" unless $r->{bytes_sent} > 100 && $r->{bytes_received} > 30;
    return "user_agent $r->{user_agent}" unless $r->{user_agent} eq 't/020 "agent"';
    return "remote_addr" unless $r->{remote_addr} eq '127.0.0.1';
    return "host" unless $r->{host} eq '127.0.0.1';
    $seen{"$r->{method} $r->{uri} $r->{api_key} $r->{service} $r->{route}"}++;
}
return "records: " . join(', ', sort keys %seen)
    unless $seen{'POST /api/orders from-arg localhost /api/orders'}
        && $seen{'GET /api/items  localhost /api/items'}
        && $seen{'GET /billing/7  billing /billing/{id}'};
return;



=== TEST 3: escape=json: quotes, backslashes, control bytes and UTF-8 come out as valid JSON with the same value
--- http_config
log_format zl_esc escape=json '{"v":"$zl_value","ua":"$http_user_agent"}';
--- config
location = /t {
    set $zl_value "";
    zmq_log zl_esc;
    content_by_lua_block {
        ngx.var.zl_value = 'q"b\\s/\1\8\9\10\13\31\127 é 日本 €'
        ngx.say("ok")
    }
}
--- request
GET /t
--- more_headers
User-Agent: "x" \y\ {x}
--- records
{"v":"q\"b\\s/\u0001\b\t\n\r\u001f\u007f é 日本 €","ua":"\"x\" \\y\\ {x}"}



=== TEST 4: topic= sends [topic, record]; variables in topic=; if= skips empty and "0"
--- http_config
log_format zl_uri '$uri?$args';
--- config
location /t {
    zmq_log zl_uri topic=usage.$arg_t if=$arg_log;
    return 200 "ok\n";
}
--- request
GET /t?log=1&t=a
GET /t?log=0&t=b
GET /t?t=c
GET /t?log=&t=d
GET /t?log=yes&t=e
--- records
usage.a	/t?log=1&t=a
usage.e	/t?log=yes&t=e



=== TEST 5: several zmq_log lines: one record each; topic= and plain side by side
--- http_config
log_format zl_a 'a $uri';
log_format zl_b 'b $uri';
--- config
location = /t {
    zmq_log zl_a;
    zmq_log zl_b topic=billing;
    zmq_log zl_a if=$arg_third;
    return 200 "ok\n";
}
--- request
GET /t
GET /t?third=1
--- records
a /t
billing	b /t
a /t
billing	b /t
a /t



=== TEST 6: inheritance like access_log: own lines replace inherited ones; zmq_log off in a nested location
--- http_config
log_format zl_http 'http $uri';
log_format zl_loc 'loc $uri';
zmq_log zl_http;
--- config
location /inherit { return 200 "ok\n"; }
location /own {
    zmq_log zl_loc;
    location /own/nested { return 200 "ok\n"; }
    location /own/off {
        zmq_log off;
        return 200 "ok\n";
    }
    return 200 "ok\n";
}
--- request
GET /inherit
GET /own
GET /own/nested
GET /own/off
--- records
http /inherit
loc /own
loc /own/nested



=== TEST 7: module + Lua in one worker: both records arrive through one queue and drainer
--- http_config
log_format zl_mod 'module $request_id';
--- config
location = /t {
    zmq_log zl_mod;
    return 200 "ok\n";
    log_by_lua_block {
        local ok, err = require("zmq_logger").log("lua " .. ngx.var.request_id)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
location = /stats {
    content_by_lua_block {
        local zl = require "zmq_logger"
        assert(zl.flush(5))
        local s = zl.stats()
        ngx.say("enqueued=", s.enqueued, " sent=", s.sent)
    }
}
--- request
GET /t
--- repeat: 10
--- steps
request GET /stats
--- record_count: 20
--- records_eval
my ($got) = @_;
my (%mod, %lua);
for (@$got) {
    if (/^module ([0-9a-f]{32})$/) { $mod{$1}++ } elsif (/^lua ([0-9a-f]{32})$/) { $lua{$1}++ }
    else { return "unexpected record $_" }
}
return "module records " . keys(%mod) unless keys %mod == 10;
return "lua and module records differ" unless join(',', sort keys %mod) eq join(',', sort keys %lua);
return;



=== TEST 8: stats seen from Lua count the module's records: one library, one queue
--- http_config
log_format zl_mod 'module $request_id';
--- config
location = /t {
    zmq_log zl_mod;
    return 200 "ok\n";
}
location = /stats {
    content_by_lua_block {
        local zl = require "zmq_logger"
        assert(zl.flush(5))
        local s = zl.stats()
        ngx.say("enqueued=", s.enqueued, " sent=", s.sent)
    }
}
--- request
GET /t
GET /t
GET /t
GET /stats
--- response_body_like: ^(ok|enqueued=3 sent=3)\n$
--- record_count: 3



=== TEST 9: zmq_log_endpoint wins over a Lua configure() in the workers
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ endpoint = "ipc:///nonexistent/zmq-log-test" }) }
zmq_log_endpoint $TEST_NGINX_ZMQ_ENDPOINT;
log_format zl_line 'endpoint $uri';
--- config
location = /t { zmq_log zl_line; return 200 "ok\n"; }
--- request
GET /t
--- records
endpoint /t



=== TEST 10: without zmq_log_* directives a Lua configure() stays in force; a full queue: counted, one error line, no error page
--- adaptor: down
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ queue_records = 3 }) }
log_format zl_line 'queued $request_id';
--- config
location = /t { zmq_log zl_line; return 200 "ok\n"; }
location = /stats {
    content_by_lua_block {
        local s = require("zmq_logger").stats()
        ngx.say("enqueued=", s.enqueued, " dropped_queue_full=", s.dropped_queue_full)
    }
}
--- request
GET /t
--- repeat: 5
--- response_body
ok
--- steps
request GET /stats
adaptor_up
--- record_count: 3
--- records_like: ^queued [0-9a-f]{32}$
--- error_log
[error]
zmq_log: record not queued: queue full: record dropped and counted (1 not queued since the last report)



=== TEST 11: zmq_log_queue_records configures the library in the worker
--- adaptor: down
--- http_config
zmq_log_queue_records 2;
zmq_log_queue_bytes 1k;
log_format zl_line 'queued $request_id';
--- config
location = /t { zmq_log zl_line; return 200 "ok\n"; }
location = /stats {
    content_by_lua_block {
        local s = require("zmq_logger").stats()
        ngx.say("enqueued=", s.enqueued, " dropped_queue_full=", s.dropped_queue_full)
    }
}
--- request
GET /t
--- repeat: 4
--- steps
request GET /stats
adaptor_up
--- record_count: 2
--- error_log
[error]
zmq_log: record not queued: queue full



=== TEST 12: zmq_usage equals the record of resty.zmq_logger.usage for the same request (absent fields aside)
--- http_config
include $TEST_NGINX_ROOT/nginx/zmq_log_usage.conf;
--- config
location /api/ {
    set $zmq_service orders;
    zmq_log zmq_usage topic=module;
    return 200 "ok\n";
    log_by_lua_block {
        local rec = require("resty.zmq_logger.usage").record()
        assert(require("zmq_logger").publish("lua", rec))
    }
}
--- request
GET /api/orders/1?x=1
GET /api/orders/2?api_key=k2
--- more_headers
User-Agent: t/020 "usage" \ua
--- record_count: 4
--- records_eval
use JSON::PP;
my ($got) = @_;
my (%mod, %lua);
for (@$got) {
    my ($topic, $rec) = split /\t/, $_, 2;
    my $r = eval { JSON::PP->new->utf8->decode($rec) } or return "not JSON: $rec";
    my @keys = $rec =~ /"(\w+)":/g;
    ($topic eq 'module' ? \%mod : \%lua)->{$r->{request_id}} = [$r, \@keys];
}
return "expected 2 requests from each" unless keys %mod == 2 && keys %lua == 2;
for my $id (keys %lua) {
    my ($l, $lkeys) = @{$lua{$id}};
    my ($m, $mkeys) = @{$mod{$id} || return "no module record for $id"};
    my @common = grep { exists $l->{$_} } @$mkeys;
    return "field order differs: @$lkeys / @common" unless "@$lkeys" eq "@common";
    for my $k (@$mkeys) {
        if (!exists $l->{$k}) {
            return "module has '$k' = '$m->{$k}' where usage.lua has none" unless $m->{$k} eq '';
            next;
        }
        return "$k: module '$m->{$k}' vs usage.lua '$l->{$k}'" unless $m->{$k} eq $l->{$k};
    }
}
return;



=== TEST 13: a record over the size limit: counted by the library, one error line, the response unchanged
--- http_config
zmq_log_queue_bytes 1k;
log_format zl_val 'v $zl_val';
--- config
location = /t {
    set $zl_val "";
    zmq_log zl_val;
    content_by_lua_block {
        ngx.var.zl_val = string.rep("x", tonumber(ngx.var.arg_n))
        ngx.say("ok")
    }
}
location = /stats {
    content_by_lua_block {
        local s = require("zmq_logger").stats()
        ngx.say("enqueued=", s.enqueued, " dropped_too_large=", s.dropped_too_large)
    }
}
--- request
GET /t?n=10
GET /t?n=2000
GET /t?n=1000
GET /stats
--- response_body_like: ^(ok|enqueued=2 dropped_too_large=1)\n$
--- record_count: 2
--- records_eval
my ($got) = @_;
my @len = sort { $a <=> $b } map { length } @$got;
return "record lengths @len" unless "@len" eq "12 1002";
return;
--- error_log
[error]
zmq_log: record not queued: record larger than max_record_bytes (1 not queued since the last report)

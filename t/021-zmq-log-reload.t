# ngx_http_zmq_log_module under load: nginx -s reload and -s quit lose no record;
# every served request (access log) has its record at the subscriber exactly once.
use lib 't/lib';
use ZmqNginx;

require_zmq_log_module();
run_tests();

__DATA__

=== TEST 1: two reloads under wrk load, 2 workers: records == requests served
--- workers: 2
--- http_config
log_format zl_id '$request_id';
zmq_log_endpoint $TEST_NGINX_ZMQ_ENDPOINT;
--- config
location = /load {
    zmq_log zl_id;
    return 200 "ok\n";
}
--- steps
load 5 /load 8
sleep 1.5
reload
sleep 1.5
reload
load_wait
--- records_match_access_log: ^GET /load
--- error_log
undelivered=0
--- timeout: 30



=== TEST 2: quit while wrk runs, 2 workers, module and Lua records in the same workers
--- workers: 2
--- http_config
log_format zl_id 'module $request_id';
--- config
location = /load {
    zmq_log zl_id;
    return 200 "ok\n";
    log_by_lua_block {
        local ok, err = require("zmq_logger").log("lua " .. ngx.var.request_id)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
--- steps
load 3 /load 8
sleep 1.5
quit
load_wait
--- records_eval
my ($got, $block) = @_;
my (%mod, %lua);
for (@$got) {
    if (/^module ([0-9a-f]{32})$/) { $mod{$1}++ } elsif (/^lua ([0-9a-f]{32})$/) { $lua{$1}++ }
    else { return "unexpected record $_" }
}
my @served;
open my $fh, '<', ZmqNginx::servroot() . '/logs/access.log' or return "no access log";
while (<$fh>) { push @served, $1 if /^([0-9a-f]{32}) \d+ "GET \/load / }
return "no request served" unless @served;
my @dup = grep { $mod{$_} != 1 || ($lua{$_} // 0) != 1 } grep { exists $mod{$_} } @served;
return scalar(@dup) . " requests with duplicated records" if @dup;
my @missing = grep { !$mod{$_} || !$lua{$_} } @served;
return scalar(@missing) . " of " . scalar(@served) . " served requests miss a record" if @missing;
return "records for requests not in the access log"
    unless keys %mod == @served && keys %lua == @served;
# The library's exit line of each worker counts module and Lua records together.
open my $el, '<', ZmqNginx::servroot() . '/logs/error.log' or return "no error log";
my ($accepted, $delivered, $lines) = (0, 0, 0);
while (<$el>) {
    next unless /exit: accepted=(\d+) delivered=(\d+) undelivered=0 /;
    ($accepted, $delivered, $lines) = ($accepted + $1, $delivered + $2, $lines + 1);
}
return "exit lines: $lines, accepted=$accepted delivered=$delivered, records " . scalar(@$got)
    unless $lines >= 2 && $accepted == @$got && $delivered == @$got;
return;
--- error_log
undelivered=0
--- timeout: 30

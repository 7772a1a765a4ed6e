# Every record delivered or counted, across nginx reloads and adaptor restarts:
# records received by the consumer + records the workers report as undelivered in
# the error log == requests served.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: reload during a graceful adaptor restart: zero lost, zero duplicated
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
load 4 /load 8
sleep 1
adaptor_restart
reload
sleep 1
adaptor_restart
load_wait
--- records_match_access_log: ^GET /load
--- no_error_log
undelivered=1
undelivered=2
undelivered=3
undelivered=4
undelivered=5
undelivered=6
undelivered=7
undelivered=8
undelivered=9
--- timeout: 30



=== TEST 2: reload during an outage that outlasts the shutdown timeout: received + undelivered == served
--- workers: 2
--- main_config
worker_shutdown_timeout 1s;
--- http_config
init_by_lua_block { assert(require("zmq_logger").configure{ linger_ms = 500 }) }
--- config
location = /load {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block {
        local ok, err = require("zmq_logger").log(ngx.var.request_id)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
--- steps
load 5 /load 4
sleep 1
adaptor_down
sleep 1
reload
sleep 3
adaptor_up
load_wait
sleep 2
--- records_eval
my ($got) = @_;
my @served = count_access_log(qr{^GET /load});
my $undelivered = 0;
my $refused = 0;
my $lines = 0;
for (split /\n/, slurp(servroot() . "/logs/error.log")) {
    next unless /zmq_logger: exit: .* undelivered=(\d+) refused_queue_full=(\d+) refused_too_large=(\d+)/;
    $undelivered += $1;
    $refused += $2 + $3;
    $lines++ if $1 > 0;
}
my %seen;
my $dups = grep { $seen{$_}++ } @$got;
return "duplicates: $dups" if $dups;
return "no worker reported undelivered records (the outage did not outlast the shutdown)"
    unless $undelivered > 0;
return "nothing arrived after the adaptor came back" unless $lines < 4;
# A full queue refuses records (counted in the same exit line): counted drops too.
return sprintf("received %d + undelivered %d + refused %d != served %d (%d exit lines)",
    scalar @$got, $undelivered, $refused, scalar @served, $lines)
    unless @$got + $undelivered + $refused == @served;
return;
--- error_log
[error]
zmq_logger: exit: 
not delivered
--- timeout: 30

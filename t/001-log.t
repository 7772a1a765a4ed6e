# Records logged with zmq_logger.log() from nginx workers reach a subscriber of
# the real zmq-adaptor, from every worker.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: one string record from log_by_lua
--- config
location = /t {
    content_by_lua_block { ngx.say("hello") }
    log_by_lua_block {
        local zl = require "zmq_logger"
        local ok, err = zl.log("record " .. ngx.var.arg_n)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
--- request
GET /t?n=1
--- response_body
hello
--- records
record 1



=== TEST 2: log() returns true and the record is sent byte for byte
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.log("a \"quoted\" value\twith tab"))
        ngx.say(zl.log(string.rep("x", 1000)))
    }
}
--- request
GET /t
--- response_body
true
true
--- record_count: 2
--- records_eval
my ($got) = @_;
return "first record is '$got->[0]'" unless $got->[0] eq "a \"quoted\" value\twith tab";
my @long = grep { $_ eq 'x' x 1000 } @$got;
return "the 1000-byte record is missing or altered" unless @long == 1;
return;



=== TEST 3: 2 workers, 60 requests on separate connections: every record arrives, from both workers
--- workers: 2
--- config
location = /t {
    content_by_lua_block { ngx.say("ok") }
    log_by_lua_block {
        local ok, err = require("zmq_logger").log(ngx.worker.pid() .. " " .. ngx.var.request_id)
        if not ok then ngx.log(ngx.ERR, "log failed: ", err) end
    }
}
--- request
GET /t
--- repeat: 60
--- response_body
ok
--- record_count: 60
--- records_like: ^\d+ [0-9a-f]{32}$
--- records_eval
my ($got) = @_;
my %pids = map { (split / /)[0] => 1 } @$got;
my %ids = map { (split / /)[1] => 1 } @$got;
return "records came from " . scalar(keys %pids) . " worker(s), expected 2"
    unless keys %pids == 2;
return "duplicate records" unless keys %ids == 60;
return;
--- records_match_access_log: ^GET /t



=== TEST 4: records of one worker keep their order
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 500 do
            local ok, err = zl.log(tostring(i))
            if not ok then ngx.log(ngx.ERR, "log failed: ", err) return end
        end
        ngx.say("done")
    }
}
--- request
GET /t
--- response_body
done
--- record_count: 500
--- records_eval
my ($got) = @_;
for my $i (1 .. 500) {
    return "record $i is '$got->[$i-1]'" unless $got->[$i-1] eq $i;
}
return;



=== TEST 5: stats() counts what was queued and sent
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 10 do assert(zl.log("r" .. i)) end
        assert(zl.flush(5))
        local s = zl.stats()
        ngx.say("enqueued=", s.enqueued, " sent=", s.sent, " queue=", s.queue_records,
                " full=", s.dropped_queue_full, " large=", s.dropped_too_large,
                " peer=", s.peer_subscribed, " zmq_errors=", s.zmq_errors)
        local n = 0
        for _ in pairs(s) do n = n + 1 end
        ngx.say("fields=", n)
    }
}
--- request
GET /t
--- response_body
enqueued=10 sent=10 queue=0 full=0 large=0 peer=1 zmq_errors=0
fields=12
--- record_count: 10

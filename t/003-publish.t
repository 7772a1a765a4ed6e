# publish(topic, record) sends [topic, record]; subscribers filter on the topic.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: published messages arrive as [topic, record], logged ones as one frame
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.publish("usage.billing", "r1"))
        ngx.say(zl.publish("usage.search", { n = 2 }))
        ngx.say(zl.log("plain"))
        ngx.say(zl.publish("audit", "r3"))
    }
}
--- request
GET /t
--- response_body
true
true
true
true
--- records
usage.billing	r1
usage.search	{"n":2}
plain
audit	r3



=== TEST 2: a subscriber to "usage." gets only the usage topics
--- subscribe: usage.
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        for i = 1, 5 do
            assert(zl.publish("usage.api", "u" .. i))
            assert(zl.publish("audit", "a" .. i))
            assert(zl.log("plain" .. i))
        end
        assert(zl.publish("usage.other", "last"))
        ngx.say("ok")
    }
}
--- request
GET /t
--- response_body
ok
--- records
usage.api	u1
usage.api	u2
usage.api	u3
usage.api	u4
usage.api	u5
usage.other	last



=== TEST 3: publish from log_by_lua in 2 workers, topic per location
--- workers: 2
--- config
location /a {
    return 200 "a\n";
    log_by_lua_block { assert(require("zmq_logger").publish("svc.a", ngx.var.request_id)) }
}
location /b {
    return 200 "b\n";
    log_by_lua_block { assert(require("zmq_logger").publish("svc.b", ngx.var.request_id)) }
}
--- request
GET /a
GET /b
--- repeat: 20
--- response_body_like: ^[ab]\n$
--- record_count: 40
--- records_eval
my ($got) = @_;
my %n;
$n{(split /\t/)[0]}++ for @$got;
return "topics: " . join(", ", map { "$_=$n{$_}" } sort keys %n)
    unless $n{'svc.a'} == 20 && $n{'svc.b'} == 20 && keys %n == 2;
return;
--- records_match_access_log: ^GET /[ab]



=== TEST 4: bad topics give nil, err
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.publish("", "x"))
        ngx.say(zl.publish(nil, "x"))
        ngx.say(zl.publish(42, "x"))
        ngx.say(zl.publish("t", ""))
        ngx.say(zl.publish("t", nil))
        ngx.say(zl.publish(string.rep("t", 70000), "x"))
    }
}
--- request
GET /t
--- response_body
nilempty record or topic
niltopic must be a string, got nil
niltopic must be a string, got number
nilempty record or topic
nilrecord must be a string or a table, got nil
niltopic longer than 65535 bytes

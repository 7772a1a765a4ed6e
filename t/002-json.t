# Tables given to log()/publish() are sent as JSON; the usage module builds the
# standard record.
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: a table is encoded as a JSON object
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.log{ key = "abc", status = 200, time = 1.5, ok = true,
                        tags = { "a", "b" }, nested = { x = { y = "z" } } })
    }
}
--- request
GET /t
--- response_body
true
--- records
{"key":"abc","status":200,"time":1.5,"ok":true,"tags":["a","b"],"nested":{"x":{"y":"z"}}}



=== TEST 2: escaping, empty table, ngx.null, numbers, invalid UTF-8
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        assert(zl.log{ s = "q\"b\\n\n\t\1/é", e = {}, n = ngx.null, big = 2^53,
                       neg = -3, frac = 0.25, nan = 0/0, bad = "a\255b" })
        ngx.say("ok")
    }
}
--- request
GET /t
--- response_body
ok
--- records
{"s":"q\"b\\n\n\t\u0001/é","e":{},"n":null,"big":9007199254740992,"neg":-3,"frac":0.25,"nan":null,"bad":"a\ufffdb"}



=== TEST 3: encode() returns the JSON text; unencodable values give nil, err
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        ngx.say(zl.encode{ 1, 2, 3 })
        ngx.say(zl.encode{ [1] = "a", [3] = "c" } ~= nil)
        ngx.say(zl.encode{ f = print })
        local t = {} t.self = t
        ngx.say(zl.log(t))
        ngx.say(zl.log{ co = coroutine.create(function() end) })
        ngx.say(zl.encode("str"))
    }
}
--- request
GET /t
--- response_body
[1,2,3]
true
nilcannot encode a value of type function
nilrecord: cannot encode a table nested deeper than 64 levels (reference cycle?)
nilrecord: cannot encode a value of type thread
nilencode expects a table, got string



=== TEST 4: resty.zmq_logger.usage builds the standard record in log_by_lua
--- config
location = /v1/items {
    set $zmq_service billing;
    content_by_lua_block { ngx.say("items") }
    log_by_lua_block {
        local ok, err = require("resty.zmq_logger.usage").log({ plan = "gold" })
        if not ok then ngx.log(ngx.ERR, "usage log failed: ", err) end
    }
}
--- request
GET /v1/items?api_key=from-arg&x=1
--- more_headers
X-API-Key: key-123
User-Agent: tester/1.0
--- response_body
items
--- record_count: 1
--- records_eval
my ($got) = @_;
my $r = JSON::PP->new->utf8->decode($got->[0]);
my %want = (api_key => 'key-123', service => 'billing', route => '/v1/items',
            method => 'GET', uri => '/v1/items', status => 200, remote_addr => '127.0.0.1',
            user_agent => 'tester/1.0', plan => 'gold', bytes_received => undef,
            bytes_sent => undef, request_time => undef, time => undef, request_id => undef,
            host => undef);
for my $k (sort keys %want) {
    return "field $k missing in $got->[0]" unless exists $r->{$k};
    next unless defined $want{$k};
    return "field $k is '$r->{$k}', expected '$want{$k}'" unless $r->{$k} eq $want{$k};
}
return "request_id '$r->{request_id}'" unless $r->{request_id} =~ /^[0-9a-f]{32}$/;
return "time $r->{time} not near now" unless abs($r->{time} - time) < 60;
return "bytes_sent $r->{bytes_sent}" unless $r->{bytes_sent} > 5;
return "bytes_received $r->{bytes_received}" unless $r->{bytes_received} > 20;
return "order: $got->[0]" unless $got->[0] =~ /^\{"time":[0-9.]+,"request_id":/;
return;



=== TEST 5: usage: API key from the query argument, configured topic, escaping
--- http_config
init_worker_by_lua_block {
    assert(require("resty.zmq_logger.usage").configure{ topic = "usage.v1", key_header = "X-Key" })
}
--- config
location / {
    return 404;
    log_by_lua_block { require("resty.zmq_logger.usage").log() }
}
--- request
GET /a%22b%0A?api_key=arg-key
--- error_code: 404
--- record_count: 1
--- records_eval
my ($got) = @_;
my ($topic, $json) = split /\t/, $got->[0], 2;
return "topic '$topic'" unless $topic eq 'usage.v1';
my $r = JSON::PP->new->utf8->decode($json);
return "api_key '$r->{api_key}'" unless $r->{api_key} eq 'arg-key';
return "uri '$r->{uri}'" unless $r->{uri} eq "/a\"b\n";
return "status '$r->{status}'" unless $r->{status} == 404;
return;



=== TEST 6: usage.configure rejects unknown options and wrong types
--- config
location = /t {
    content_by_lua_block {
        local usage = require "resty.zmq_logger.usage"
        ngx.say(usage.configure{ bogus = 1 })
        ngx.say(usage.configure{ topic = 5 })
        ngx.say(usage.configure{ topic = "" })
        ngx.say(usage.configure("x"))
    }
}
--- request
GET /t
--- response_body
nilconfigure: unknown option "bogus"
nilconfigure: topic must be a string, got number
nilconfigure: topic must not be empty
nilconfigure expects a table, got string

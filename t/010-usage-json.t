# The usage record's JSON: nested `extra` tables, and the same bytes as
# zmq_logger.encode for numbers, strings and tables (one rule, one implementation:
# see lua/resty/zmq_logger/usage.lua).
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: numbers: zmq_logger.encode and the usage encoder write the same bytes
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local usage = require "resty.zmq_logger.usage"
        local cases = { 0, -0.0, 1, -1, 200, 0.1, 0.25, -2.5, 1/3, 1e-7, 1.5e-7,
                        123456.789, 2^53 - 1, 2^53, 2^53 + 2, 1e15, 1e16, 1e18, 2^62,
                        2^63, -2^63, 2^64, 1e21, 1e300, -1e300, 5e-324,
                        1.7976931348623157e308, 0/0, 1/0, -1/0 }
        for _, v in ipairs(cases) do
            local a, b = zl.encode({ v }), usage.encode({ v })
            ngx.say(a, a == b and "" or ("  MISMATCH usage: " .. tostring(b)))
        end
        -- as object keys too
        local a, b = zl.encode({ [0.5] = 1 }), usage.encode({ [0.5] = 1 })
        ngx.say(a, a == b and "" or ("  MISMATCH usage: " .. tostring(b)))
    }
}
--- request
GET /t
--- response_body
[0]
[0]
[1]
[-1]
[200]
[0.1]
[0.25]
[-2.5]
[0.3333333333333333]
[1e-7]
[1.5e-7]
[123456.789]
[9007199254740991]
[9007199254740992]
[9007199254740994]
[1000000000000000]
[10000000000000000]
[1000000000000000000]
[4611686018427387904]
[9.223372036854776e+18]
[-9.223372036854776e+18]
[1.8446744073709552e+19]
[1e+21]
[1e+300]
[-1e+300]
[5e-324]
[1.7976931348623157e+308]
[null]
[null]
[null]
{"0.5":1}



=== TEST 2: strings: escaping and invalid UTF-8, the same bytes in both encoders
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local usage = require "resty.zmq_logger.usage"
        local cases = { "", "plain", 'q"b\\', "\0\1\31\127", "\b\f\n\r\t", "/é€😀",
                        "\255", "a\128b", "\226\130", "\226\130x", "\237\160\128",
                        "\240\159\152", "\192\175", "\244\144\128\128", "\239\191\189" }
        for _, s in ipairs(cases) do
            local a, b = zl.encode({ s }), usage.encode({ s })
            local c = "[" .. usage.json_string(s) .. "]"
            ngx.say(a, (a == b and a == c) and "" or ("  MISMATCH usage: " .. b .. " " .. c))
        end
    }
}
--- request
GET /t
--- response_body
[""]
["plain"]
["q\"b\\"]
["\u0000\u0001\u001f"]
["\b\f\n\r\t"]
["/é€😀"]
["�"]
["a�b"]
["�"]
["�x"]
["���"]
["�"]
["��"]
["����"]
["�"]



=== TEST 3: tables: nesting, arrays, objects, key types, depth limit, same bytes
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local usage = require "resty.zmq_logger.usage"
        local deep63, deep64 = {}, {}
        local t = deep63
        for _ = 1, 63 do t.d = {} t = t.d end
        t = deep64
        for _ = 1, 64 do t.d = {} t = t.d end
        local cases = {
            { a = { b = { c = { 1, 2, { x = "y" } } } } },
            { {}, { {} }, { 1, { 2, { 3 } } } },
            { [1] = "a", [2] = "b", [3] = "c" },
            { [1] = "a", [3] = "c" },
            { [2] = "b" },
            { [true] = 1 },
            { [false] = { ngx.null } },
            { [-1] = 0 },
            { n = ngx.null },
            { mixed = { 1, 2, k = "v" } },
            deep63,
            deep64,
        }
        for i, c in ipairs(cases) do
            local a, ea = zl.encode(c)
            local b, eb = usage.encode(c)
            if a == b and ea == eb then
                if i == 4 or i == 10 then
                    ngx.say(a and "same object" or ("nil " .. ea))
                elseif i >= 11 then
                    ngx.say(a and ("ok, " .. #a .. " bytes") or ("nil " .. ea))
                else
                    ngx.say(a or ("nil " .. ea))
                end
            else
                ngx.say("MISMATCH ", tostring(a), " ", tostring(ea), " / usage: ",
                        tostring(b), " ", tostring(eb))
            end
        end
    }
}
--- request
GET /t
--- response_body
{"a":{"b":{"c":[1,2,{"x":"y"}]}}}
[{},[{}],[1,[2,[3]]]]
["a","b","c"]
same object
{"2":"b"}
{"true":1}
{"false":[null]}
{"-1":0}
{"n":null}
same object
ok, 380 bytes
nil cannot encode a table nested deeper than 64 levels (reference cycle?)



=== TEST 4: nested extra tables in the usage record are JSON, not "table: 0x..."
--- config
location = /t {
    return 200 "ok\n";
    log_by_lua_block {
        local usage = require "resty.zmq_logger.usage"
        local ok, err = usage.log({
            plan = "gold",
            ratio = 0.1,
            big = 2^53,
            tags = { "a", "b" },
            obj = { x = { y = { 1, 2.5, true, ngx.null } } },
            empty = {},
        })
        if not ok then ngx.log(ngx.ERR, "usage log failed: ", err) end
    }
}
--- request
GET /t
--- record_count: 1
--- records_eval
my ($got) = @_;
my $j = $got->[0];
return "table address in $j" if $j =~ /table: 0x/;
for my $want ('"plan":"gold"', '"ratio":0.1', '"big":9007199254740992',
              '"tags":["a","b"]', '"obj":{"x":{"y":[1,2.5,true,null]}}', '"empty":{}') {
    return "missing $want in $j" unless index($j, $want) >= 0;
}
my $r = JSON::PP->new->utf8->decode($j);
return "status $r->{status}" unless $r->{status} == 200;
return "method $r->{method}" unless $r->{method} eq 'GET';
return;



=== TEST 5: extra that cannot be encoded: nil, err from record() and log(), nothing sent
--- config
location = /t {
    return 200 "ok\n";
    log_by_lua_block {
        local usage = require "resty.zmq_logger.usage"
        local cyc = {} cyc.self = cyc
        local rec, err = usage.record({ c = cyc })
        ngx.log(ngx.WARN, "record: ", tostring(rec), " ", err)
        local ok, err2 = usage.log({ c = cyc })
        ngx.log(ngx.WARN, "log: ", tostring(ok), " ", err2)
        -- a function is written as its tostring() text; the record after a failed
        -- one is complete
        assert(usage.log({ f = print, after = "failure" }))
    }
}
--- request
GET /t
--- record_count: 1
--- records_eval
my ($got) = @_;
my $r = JSON::PP->new->utf8->decode($got->[0]);
return "f '$r->{f}'" unless $r->{f} =~ /^builtin: / || $r->{f} =~ /^function: /;
return "after '$r->{after}'" unless $r->{after} eq 'failure';
return "no time first: $got->[0]" unless $got->[0] =~ /^\{"time":/;
return;
--- error_log
record: nil cannot encode a table nested deeper than 64 levels (reference cycle?)
log: nil cannot encode a table nested deeper than 64 levels (reference cycle?)



=== TEST 6: every field: escaping of variables, upstream time, number formats
--- http_config
upstream up { server 127.0.0.1:$TEST_NGINX_SERVER_PORT; }
--- config
location /backend { return 201 "b\n"; }
location /v1 {
    set $zmq_service "svc\"q";
    proxy_pass http://up/backend;
    log_by_lua_block { assert(require("resty.zmq_logger.usage").log()) }
}
--- request
GET /v1/%22x%01%FF%C3%A9?api_key=k%09
--- more_headers
User-Agent: agent "7" \ x
--- error_code: 201
--- record_count: 1
--- records_eval
my ($got) = @_;
my $j = $got->[0];
my $r = JSON::PP->new->utf8->decode($j);
my %want = (service => "svc\"q", route => "/v1/\"x\x{1}\x{FFFD}\x{e9}", uri => "/v1/\"x\x{1}\x{FFFD}\x{e9}",
            api_key => "k%09", method => 'GET', status => 201, host => '127.0.0.1',
            user_agent => "agent \"7\" \\ x");
for my $k (sort keys %want) {
    return "$k: '$r->{$k}' in $j" unless defined $r->{$k} && $r->{$k} eq $want{$k};
}
return "raw escapes in $j"
    unless index($j, '"uri":"/v1/\"x\u0001' . "\xef\xbf\xbd\xc3\xa9" . '"') >= 0
        && index($j, '"user_agent":"agent \"7\" \\\\ x"') >= 0;
return "upstream_time '$r->{upstream_time}'" unless $r->{upstream_time} =~ /^\d+\.\d{3}$/;
return "request_time '$r->{request_time}'" unless $j =~ /"request_time":(0|\d+(\.\d{1,3})?)[,}]/;
return "time" unless $j =~ /^\{"time":\d{10}\.\d{3},"request_id":"[0-9a-f]{32}",/;
return "bytes" unless $j =~ /"bytes_sent":\d+,"bytes_received":\d+,/;
return;



=== TEST 7: request_id = "worker": 32 hex digits, unique, one prefix per worker
--- workers: 2
--- http_config
init_by_lua_block {
    assert(require("resty.zmq_logger.usage").configure{ request_id = "worker" })
}
--- config
location = /t {
    return 200 "ok\n";
    log_by_lua_block { assert(require("resty.zmq_logger.usage").log()) }
}
--- request
GET /t
--- repeat: 40
--- record_count: 40
--- records_eval
my ($got) = @_;
my (%ids, %prefixes);
for my $j (@$got) {
    my ($id) = $j =~ /"request_id":"([^"]*)"/ or return "no request_id in $j";
    return "id '$id'" unless $id =~ /^[0-9a-f]{32}$/;
    return "duplicate id $id" if $ids{$id}++;
    $prefixes{substr($id, 0, 16)}++;
}
return "prefixes: " . join(',', keys %prefixes) unless keys %prefixes == 2;
return;



=== TEST 8: usage.configure rejects a bad request_id mode and bad key names
--- config
location = /t {
    content_by_lua_block {
        local usage = require "resty.zmq_logger.usage"
        ngx.say(usage.configure{ request_id = "random" })
        ngx.say(usage.configure{ key_header = "" })
        ngx.say(usage.configure{ key_arg = string.rep("a", 300) })
    }
}
--- request
GET /t
--- response_body
nilconfigure: request_id must be "variable" or "worker"
nilconfigure: key_header must be 1..251 bytes
nilconfigure: key_arg must be 1..251 bytes



=== TEST 9: 2,000 generated tables (seeded): both encoders write the same bytes
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local usage = require "resty.zmq_logger.usage"
        math.randomseed(20261201)
        local strings = { "", "a", "q\"", "\\", "\n\t", "é", "\255", "\226\130", "x y" }
        local numbers = { 0, -1, 7, 0.5, 1/3, 2^53, 2^63, 1e300, -1e-300, 0/0, 1/0 }
        local function leaf()
            local k = math.random(5)
            if k == 1 then return strings[math.random(#strings)] end
            if k == 2 then return numbers[math.random(#numbers)] end
            if k == 3 then return math.random(2) == 1 end
            if k == 4 then return ngx.null end
            return math.random(1000) - 500
        end
        local function gen(depth)
            local t, shape = {}, math.random(4)
            local n = math.random(0, 5)
            if shape == 1 or depth > 4 then          -- array
                for i = 1, n do t[i] = depth > 4 and leaf() or (math.random(3) == 1 and gen(depth + 1) or leaf()) end
            elseif shape == 2 then                   -- sparse / mixed keys
                for _ = 1, n do
                    local key = math.random(3) == 1 and math.random(6) or strings[math.random(#strings)]
                    t[key] = math.random(3) == 1 and gen(depth + 1) or leaf()
                end
            elseif shape == 3 then                   -- float and boolean keys
                t[math.random(10) / 4] = leaf()
                t[math.random(2) == 1] = leaf()
            else                                     -- nested object
                for i = 1, n do t["k" .. i] = gen(depth + 1) end
            end
            return t
        end
        local same, diff, bytes, arrays, objects = 0, 0, 0, 0, 0
        for _ = 1, 2000 do
            local t = gen(0)
            local a, ea = zl.encode(t)
            local b, eb = usage.encode(t)
            if a == b and ea == eb and a then
                same = same + 1
                bytes = bytes + #a
                if a:sub(1, 1) == "[" then arrays = arrays + 1 else objects = objects + 1 end
            else
                diff = diff + 1
                if diff <= 3 then ngx.say("MISMATCH ", tostring(a), " / ", tostring(b)) end
            end
        end
        ngx.say("same ", same, ", different ", diff)
        ngx.say("arrays > 300: ", arrays > 300, ", objects > 300: ", objects > 300,
                ", bytes > 30000: ", bytes > 30000)
    }
}
--- request
GET /t
--- response_body
same 2000, different 0
arrays > 300: true, objects > 300: true, bytes > 30000: true

# configure{ curve_server_key, curve_public_key, curve_secret_key }: malformed,
# partial or mismatched keys give nil and a reason naming the key (never its value);
# a complete, matching set is accepted. (Keys: the test vectors of zmq_curve(7).)
use lib 't/lib';
use ZmqNginx;

run_tests();

__DATA__

=== TEST 1: bad CURVE keys are refused with a reason; good ones are accepted
--- config
location = /t {
    content_by_lua_block {
        local zl = require "zmq_logger"
        local server = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        local public = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        local secret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
        ngx.say(zl.configure{ curve_server_key = "short" })
        ngx.say(zl.configure{ curve_secret_key = 42 })
        ngx.say(zl.configure{ curve_server_key = server, curve_public_key = public })
        ngx.say(zl.configure{ curve_server_key = server, curve_public_key = server,
                              curve_secret_key = secret })
        ngx.say(zl.configure{ curve_server_key = server, curve_public_key = public,
                              curve_secret_key = secret:sub(1, 39) .. "~" })
        ngx.say(zl.configure{ endpoint = "tcp://127.0.0.1:6999", curve_server_key = server,
                              curve_public_key = public, curve_secret_key = secret })
    }
}
--- request
GET /t
--- response_body
nilcurve_server_key must be a 40-character Z85 key, got 5 bytes
nilcurve_secret_key must be a string (40 Z85 characters), got number
nilbad CURVE key: curve_secret_key is missing: give curve_server_key, curve_public_key and curve_secret_key together
nilbad CURVE key: curve_public_key: does not belong to curve_secret_key
nilbad CURVE key: curve_secret_key: character 40 is not in the Z85 alphabet
true
--- record_count: 0

package ZmqNginx;

# Data-driven tests against a real nginx + lua-nginx-module, a real zmq-adaptor and
# an independent pyzmq subscriber, in the spirit of Test::Nginx (which Debian does
# not package), built on Test::Base.
#
#   use lib 't/lib';
#   use ZmqNginx;
#   run_tests();
#   __DATA__
#   === TEST 1: a record arrives
#   --- config
#   location = /t { content_by_lua_block { ngx.say(require("zmq_logger").log("hi")) } }
#   --- request
#   GET /t
#   --- response_body
#   true
#   --- records
#   hi
#
# Sections (all optional except request):
#   main_config       text at the top level of nginx.conf
#   http_config       text inside http {}
#   config            text inside the server {} (locations)
#   workers           worker_processes (default 1); > 1 adds "reuseport" to listen
#   request           "METHOD /path" lines, one request each (own connection)
#   repeat            send the request lines this many times (default 1)
#   more_headers      "Name: value" lines added to every request
#   error_code        expected status of every request (default 200)
#   response_body     exact body of every request
#   response_body_like  regex every body must match
#   steps             actions after the requests, one per line:
#                       request METHOD /path   (status must be 200)
#                       sleep SECONDS
#                       reload                 (nginx -s reload, waits for new workers)
#                       old_workers_gone SECONDS [TODO REASON...]  (the workers that
#                                              ran before the last reload exited within
#                                              SECONDS of it; with TODO, a known failure
#                                              reported as "not ok # TODO")
#                       run COMMAND...         (shell command in the checkout, with
#                                              $TEST_NGINX_* expanded; must exit 0)
#                       quit_clean             (quit; the master must exit 0, not on
#                                              a signal)
#                       quit                   (nginx -s quit, waits for the master)
#                       quit_nowait            (nginx -s quit, does not wait)
#                       nginx_wait             (waits for the master to exit)
#                       adaptor_up / adaptor_down
#                       adaptor_restart        (SIGTERM, then start again at once)
#                       load SECONDS /path [CONNECTIONS]   (wrk in the background)
#                       load_wait
#   adaptor           "down": the adaptor is stopped when nginx starts
#   subscribe         topic prefix the subscriber filters on (default: everything)
#   records           expected messages, one per line, compared as a multiset;
#                     lines that parse as JSON are compared as JSON values;
#                     published messages appear as "topic<TAB>record"
#   record_count      expected number of messages
#   records_like      regex every message must match
#   records_eval      Perl code run with @_ = (arrayref of messages, block); returns
#                     an error text or false
#   records_match_access_log  regex on $request: the request ids in the messages
#                     (first 32-hex-digit token of each) must be exactly the
#                     $request_id values of the matching access log lines
#   error_log         lines that must appear in error.log (substring match)
#   no_error_log      lines that must not appear in error.log
#   timeout           seconds to wait for the records (default 10)
#   config_error      the block only runs "nginx -t" on its configuration, which
#                     must fail and print this text (substring match)
#   setup             shell commands run in the checkout (with $TEST_NGINX_*
#                     expanded) before nginx is configured; each must exit 0.
#                     $TEST_NGINX_ADAPTOR_BIN is the adaptor binary and
#                     $TEST_NGINX_PORT2/3 two free ports for peers started there
#
# require_zmq_log_module() (call before run_tests) loads the nginx C module
# <libdir>/ngx_http_zmq_log_module.so in every block; the whole file is skipped when
# it is not built because nginx-dev is not installed.
#
# Every block fails if error.log contains "[error]", "[alert]", "[crit]", "[emerg]"
# or the library's "not delivered" message, unless an --- error_log line contains
# that text. nginx is always stopped with SIGQUIT (graceful, workers run atexit) at
# the end of a block; the subscriber is stopped once nginx is gone.
#
# Environment:
#   ZMQ_ADAPTOR_BIN    adaptor binary (default <checkout>/target/release/zmq-adaptor)
#   ZMQ_LOGGER_LIBDIR  directory with zmq_logger.so and libzmq_adaptor.so
#                      (default <checkout>/target/release)
#   TEST_NGINX_BINARY  nginx binary (default: nginx on PATH, then /usr/sbin/nginx)
#   TEST_NGINX_LOAD_MODULES  space-separated module paths to load_module (default:
#                      /usr/lib/nginx/modules/{ndk_http,ngx_http_lua}_module.so
#                      when present; set to "" for OpenResty)
#   ZMQ_TEST_KEEP=1    keep the temporary directory (its path is printed)
#   PYTHON             interpreter with pyzmq (default /usr/bin/python3)

use strict;
use warnings;
use Test::Base;
use Test::More ();
use Exporter ();

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our @ISA = ('Exporter');
our @EXPORT = qw(run_tests root_dir server_port servroot zmq_endpoint require_zmq_log_module);
sub import { ZmqNginx->export_to_level(1, @_) }

my $ROOT = abs_path(dirname(__FILE__) . '/../..');
my $LIBDIR = $ENV{ZMQ_LOGGER_LIBDIR} // "$ROOT/target/release";
my $ADAPTOR_BIN = $ENV{ZMQ_ADAPTOR_BIN} // "$ROOT/target/release/zmq-adaptor";
my $PYTHON = $ENV{PYTHON} // '/usr/bin/python3';
my $SUB = "$ROOT/scripts/sub.py";
my $NGINX = $ENV{TEST_NGINX_BINARY} // find_nginx();

my ($TMP, $SERVROOT, $PORT, $PORT2, $PORT3, $ENDPOINT, $ADAPTOR_SOCK, $PUB_SOCK, $LINK);
my ($adaptor_pid, $sub_pid, $nginx_pid, $wrk_pid);
my ($reload_time, @reload_old_workers);
my $sub_out;
my $owner_pid = $$;
my $ZMQ_LOG_MODULE;

sub root_dir () { $ROOT }
sub server_port () { $PORT }
sub servroot () { $SERVROOT }
sub zmq_endpoint () { $ENDPOINT }

sub find_nginx {
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/nginx" if -x "$d/nginx";
    }
    return '/usr/sbin/nginx';
}

sub bail ($) {
    my $msg = shift;
    Test::More::BAIL_OUT($msg);
}

sub check_prerequisites {
    bail "nginx not found (set TEST_NGINX_BINARY)" unless -x $NGINX;
    bail "adaptor binary $ADAPTOR_BIN not found: run cargo build --release (or set ZMQ_ADAPTOR_BIN)"
        unless -x $ADAPTOR_BIN;
    my $mod = "$LIBDIR/zmq_logger.so";
    my $built = "$LIBDIR/libzmq_logger.so";
    # Never cp onto zmq_logger.so: a running nginx has it mapped (see README,
    # "Upgrading a live module"); make module replaces it with a new file + rename.
    if (!-e $mod) {
        bail "$mod not found: run make build (cargo build --release --workspace && make module)";
    }
    if (-e $built && (stat $built)[9] > (stat $mod)[9]) {
        bail "$mod is older than $built: run make module (atomic replace)";
    }
    bail "$LIBDIR/libzmq_adaptor.so not found" unless -e "$LIBDIR/libzmq_adaptor.so";
    bail "$PYTHON cannot import zmq (install python3-zmq or set PYTHON)"
        if system($PYTHON, '-c', 'import zmq') != 0;
}

# Loads the nginx C module in every block, or skips the test file when it could not
# be built because nginx-dev is missing (make build builds it whenever it is there).
sub require_zmq_log_module () {
    my $so = "$LIBDIR/ngx_http_zmq_log_module.so";
    my $src = "$ROOT/nginx/module/ngx_http_zmq_log_module.c";
    if (!-e $so) {
        Test::More::plan(skip_all => "nginx-dev is not installed, so $so was not built "
            . "(apt-get install nginx-dev; make build)") unless -x '/usr/share/nginx/src/configure';
        bail "$so not found although nginx-dev is installed: run make build "
            . "(or scripts/build_nginx_module.sh)";
    }
    bail "$so is older than $src: run scripts/build_nginx_module.sh"
        if (stat $so)[9] < (stat $src)[9];
    $ZMQ_LOG_MODULE = $so;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
        Proto => 'tcp', ReuseAddr => 1) or die "cannot find a free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub setup_dirs {
    return if $TMP;
    $TMP = tempdir('zmq-nginx-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ZMQ_TEST_KEEP});
    # Workers run as nobody: every directory on the socket paths must be searchable.
    chmod 0755, $TMP or die "chmod $TMP: $!";
    Test::More::diag("test directory: $TMP") if $ENV{ZMQ_TEST_KEEP};
    $SERVROOT = "$TMP/servroot";
    make_path("$SERVROOT/conf", "$SERVROOT/logs", "$SERVROOT/html");
    chmod 0755, $SERVROOT;
    $ADAPTOR_SOCK = "$TMP/adaptor-listen.sock";
    $PUB_SOCK = "$TMP/adaptor-publish.sock";
    # nginx connects to $LINK, a symlink to the adaptor's socket that exists only
    # once the subscriber is known to receive, so each block starts from a known
    # state: consumer attached, workers' records flowing straight through (the
    # adaptor would otherwise hold them back until a consumer subscribes).
    $LINK = "$TMP/listen";
    $ENDPOINT = "ipc://$LINK";
    $PORT = free_port();
    # Two more for peers a block starts itself (setup); distinct from $PORT.
    do { $PORT2 = free_port() } while $PORT2 == $PORT;
    do { $PORT3 = free_port() } while $PORT3 == $PORT || $PORT3 == $PORT2;
}

sub spawn {
    my ($out, @cmd) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        if (defined $out) {
            open STDOUT, '>>', $out or die "open $out: $!";
            open STDERR, '>&', \*STDOUT;
        }
        exec @cmd or do { print STDERR "exec $cmd[0]: $!\n"; POSIX::_exit(127) };
    }
    return $pid;
}

# Waits up to $timeout seconds for $pid to exit; returns its status or undef.
sub wait_pid {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return 0 if $r == -1;
        sleep 0.02;
    }
    return undef;
}

# Stops $pid with $sig, then SIGKILL after $timeout seconds; returns true when the
# process exited on the first signal.
sub stop_pid {
    my ($pid, $sig, $timeout, $what) = @_;
    return 1 unless $pid;
    kill $sig, $pid;
    my $st = wait_pid($pid, $timeout);
    return 1 if defined $st;
    Test::More::diag("$what (pid $pid) did not exit within ${timeout}s of SIG$sig; killing it");
    kill 'KILL', $pid;
    wait_pid($pid, 5);
    return 0;
}

sub start_adaptor {
    return if $adaptor_pid;
    unlink $ADAPTOR_SOCK, $PUB_SOCK;
    $adaptor_pid = spawn("$TMP/adaptor.log", $ADAPTOR_BIN, '-b', "ipc://$ADAPTOR_SOCK",
        '-p', "ipc://$PUB_SOCK", '--ipc-mode', '0666', '--stats-interval', '0');
    my $deadline = time + 10;
    while (time < $deadline) {
        last if -S $ADAPTOR_SOCK && -S $PUB_SOCK;
        if (waitpid($adaptor_pid, WNOHANG) == $adaptor_pid) {
            $adaptor_pid = undef;
            die "zmq-adaptor exited at start:\n" . slurp("$TMP/adaptor.log");
        }
        sleep 0.02;
    }
    die "zmq-adaptor did not bind its sockets within 10 s:\n" . slurp("$TMP/adaptor.log")
        unless -S $ADAPTOR_SOCK && -S $PUB_SOCK;
}

sub stop_adaptor {
    unlink $LINK if defined $LINK;
    return unless $adaptor_pid;
    my $ok = stop_pid($adaptor_pid, 'TERM', 10, 'zmq-adaptor');
    $adaptor_pid = undef;
    die "zmq-adaptor did not stop on SIGTERM\n" unless $ok;
}

sub link_up {
    return if -l $LINK;
    symlink($ADAPTOR_SOCK, $LINK) or die "symlink $LINK: $!";
}

sub start_subscriber {
    my ($block, $count) = @_;
    return if $sub_pid;
    $sub_out = "$TMP/sub.out";
    unlink $sub_out, "$TMP/sub.ready", "$TMP/sub.err";
    my @cmd = ($PYTHON, $SUB, "ipc://$PUB_SOCK", '--probe', "ipc://$ADAPTOR_SOCK",
        '--ready', "$TMP/sub.ready", '--out', $sub_out, '--timeout', '300');
    my $topic = section($block, 'subscribe');
    push @cmd, '--topic', $topic if defined $topic && length $topic;
    $sub_pid = spawn("$TMP/sub.err", @cmd);
    my $deadline = time + 15;
    while (time < $deadline) {
        return if -e "$TMP/sub.ready";
        if (waitpid($sub_pid, WNOHANG) == $sub_pid) {
            $sub_pid = undef;
            die "subscriber exited before it was ready:\n" . slurp("$TMP/sub.err");
        }
        sleep 0.02;
    }
    die "subscriber not ready within 15 s:\n" . slurp("$TMP/sub.err");
}

sub stop_subscriber {
    return unless $sub_pid;
    stop_pid($sub_pid, 'TERM', 10, 'subscriber');
    $sub_pid = undef;
}

sub slurp {
    my $f = shift;
    open my $fh, '<', $f or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub lines_of {
    my $f = shift;
    open my $fh, '<', $f or return ();
    my @l = <$fh>;
    chomp @l;
    return @l;
}

sub section {
    my ($block, $name) = @_;
    return undef unless exists $block->{$name} || $block->can($name);
    my $v = eval { $block->$name };
    return undef unless defined $v;
    return $v;
}

sub trimmed {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    return $s;
}

sub module_lines {
    my $mods = $ENV{TEST_NGINX_LOAD_MODULES};
    my @paths;
    if (defined $mods) {
        @paths = split ' ', $mods;
    } else {
        for my $m (qw(ndk_http_module ngx_http_lua_module)) {
            my $p = "/usr/lib/nginx/modules/$m.so";
            push @paths, $p if -e $p;
        }
    }
    push @paths, $ZMQ_LOG_MODULE if $ZMQ_LOG_MODULE;
    return join '', map { "load_module $_;\n" } @paths;
}

sub expand_vars {
    my $s = shift;
    my %v = (
        TEST_NGINX_SERVER_PORT => $PORT,
        TEST_NGINX_SERVROOT    => $SERVROOT,
        TEST_NGINX_ZMQ_ENDPOINT => $ENDPOINT,
        TEST_NGINX_ROOT        => $ROOT,
        TEST_NGINX_LIBDIR      => $LIBDIR,
        TEST_NGINX_ADAPTOR_BIN => $ADAPTOR_BIN,
        TEST_NGINX_PORT2       => $PORT2,
        TEST_NGINX_PORT3       => $PORT3,
    );
    $s =~ s/\$(TEST_NGINX_\w+)/exists $v{$1} ? $v{$1} : (exists $ENV{$1} ? $ENV{$1} : "\$$1")/ge;
    return $s;
}

sub write_conf {
    my $block = shift;
    my $workers = trimmed(section($block, 'workers')) // 1;
    my $listen = "127.0.0.1:$PORT" . ($workers > 1 ? ' reuseport' : '');
    my $main = section($block, 'main_config') // '';
    my $http = section($block, 'http_config') // '';
    my $server = section($block, 'config') // '';
    my $mods = module_lines();
    my $conf = <<"CONF";
$mods
worker_processes $workers;
daemon off;
master_process on;
pid logs/nginx.pid;
error_log logs/error.log notice;
env ZMQ_ADAPTOR_ENDPOINT;
$main
events {
    worker_connections 1024;
}

http {
    access_log off;
    log_format zl_test '\$request_id \$status "\$request"';
    client_body_temp_path $SERVROOT/client_body_temp;
    proxy_temp_path $SERVROOT/proxy_temp;
    fastcgi_temp_path $SERVROOT/fastcgi_temp;
    uwsgi_temp_path $SERVROOT/uwsgi_temp;
    scgi_temp_path $SERVROOT/scgi_temp;
    lua_package_path "$ROOT/lua/?.lua;;";
    lua_package_cpath "$LIBDIR/?.so;;";
$http
    server {
        listen $listen;
        server_name localhost;
        access_log logs/access.log zl_test;
$server
    }
}
CONF
    $conf = expand_vars($conf);
    open my $fh, '>', "$SERVROOT/conf/nginx.conf" or die "write nginx.conf: $!";
    print $fh $conf;
    close $fh;
}

sub nginx_cmd {
    return ($NGINX, '-p', "$SERVROOT/", '-c', 'conf/nginx.conf', '-e', 'logs/error.log', @_);
}

sub worker_pids {
    my $master = shift;
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $stat = slurp("/proc/$p/stat");
        next unless $stat =~ /^\d+ \((.*)\) \S (\d+)/;
        push @pids, $p if $2 == $master;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

sub start_nginx {
    my $block = shift;
    local $ENV{ZMQ_ADAPTOR_ENDPOINT} = $ENDPOINT;
    $nginx_pid = spawn("$SERVROOT/logs/stderr.log", nginx_cmd());
    my $workers = trimmed(section($block, 'workers')) // 1;
    my $deadline = time + 15;
    while (time < $deadline) {
        if (waitpid($nginx_pid, WNOHANG) == $nginx_pid) {
            $nginx_pid = undef;
            die "nginx exited at start:\n" . slurp("$SERVROOT/logs/stderr.log")
                . slurp("$SERVROOT/logs/error.log");
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $PORT,
            Proto => 'tcp', Timeout => 1);
        if ($s) {
            close $s;
            # All workers up (each runs init_worker before accepting).
            my $d2 = time + 10;
            while (time < $d2) {
                my @w = worker_pids($nginx_pid);
                last if @w >= $workers;
                sleep 0.05;
            }
            return;
        }
        sleep 0.05;
    }
    die "nginx did not accept connections on port $PORT within 15 s:\n"
        . slurp("$SERVROOT/logs/error.log");
}

# Graceful stop: SIGQUIT (what nginx -s quit sends); workers finish and run atexit.
sub stop_nginx {
    return 1 unless $nginx_pid;
    my $ok = stop_pid($nginx_pid, 'QUIT', 30, 'nginx master');
    $nginx_pid = undef;
    return $ok;
}

sub nginx_signal {
    my $sig = shift;
    local $ENV{ZMQ_ADAPTOR_ENDPOINT} = $ENDPOINT;
    my $rc = system(nginx_cmd('-s', $sig));
    die "nginx -s $sig failed (exit $rc)\n" if $rc != 0;
}

sub do_request {
    my ($method, $path, $headers) = @_;
    my $http = HTTP::Tiny->new(keep_alive => 0, timeout => 10);
    return $http->request($method, "http://127.0.0.1:$PORT$path", { headers => $headers });
}

sub parse_headers {
    my $text = shift // '';
    my %h;
    for my $l (split /\n/, $text) {
        next unless $l =~ /^\s*([^:\s]+)\s*:\s*(.*?)\s*$/;
        $h{$1} = expand_vars($2);
    }
    return \%h;
}

sub canonical {
    my $line = shift;
    state_json();
    my ($prefix, $payload) = ('', $line);
    if ($line =~ /^([^\t]*\t)(.*)$/s) {
        ($prefix, $payload) = ($1, $2);
    }
    if ($payload =~ /^\s*[\[{]/) {
        my $v = eval { $ZmqNginx::JSON->decode($payload) };
        return $prefix . $ZmqNginx::JSON->encode($v) if defined $v;
    }
    return $line;
}

our $JSON;
sub state_json {
    $JSON //= JSON::PP->new->utf8(1)->canonical(1)->allow_nonref(1);
}

sub check_error_log {
    my ($block, $name) = @_;
    my $log = slurp("$SERVROOT/logs/error.log");
    my @expected = grep { length } map { trimmed($_) } split /\n/, (section($block, 'error_log') // '');
    my @forbidden = grep { length } map { trimmed($_) } split /\n/, (section($block, 'no_error_log') // '');
    for my $e (@expected) {
        Test::More::ok(index($log, $e) >= 0, "$name - error.log contains \"$e\"");
    }
    for my $d ('[error]', '[alert]', '[crit]', '[emerg]', 'not delivered') {
        next if grep { index($_, $d) >= 0 } @expected;
        push @forbidden, $d;
    }
    my @bad;
    for my $f (@forbidden) {
        my @hits = grep { index($_, $f) >= 0 } split /\n/, $log;
        push @bad, @hits;
        Test::More::ok(!@hits, "$name - error.log has no \"$f\"")
            or Test::More::diag(join "\n", @hits[0 .. ($#hits > 9 ? 9 : $#hits)]);
    }
}

sub count_access_log {
    my $re = shift;
    my @ids;
    for my $l (lines_of("$SERVROOT/logs/access.log")) {
        next unless $l =~ /^(\S+) (\d+) "(.*)"$/;
        my ($id, $request) = ($1, $3);
        push @ids, $id if $request =~ $re;
    }
    return @ids;
}

sub wait_records {
    my ($expect, $timeout) = @_;
    my $deadline = time + $timeout;
    my ($last, $stable_since) = (-1, time);
    while (time < $deadline) {
        my $n = () = lines_of($sub_out);
        if (defined $expect) {
            # Reached: wait a little more to catch unexpected extra records.
            if ($n >= $expect) { sleep 0.3; last; }
        } else {
            if ($n != $last) { ($last, $stable_since) = ($n, time); }
            elsif (time - $stable_since > 1.0) { last; }
        }
        sleep 0.05;
    }
    stop_subscriber();
    # sub.py escapes "\\" and newlines so that every message is one line.
    return map { my $l = $_; $l =~ s/\\(\\|n)/$1 eq 'n' ? "\n" : "\\"/ge; $l } lines_of($sub_out);
}

sub run_steps {
    my ($block, $name, $headers) = @_;
    my $steps = section($block, 'steps') // '';
    for my $raw (split /\n/, $steps) {
        my $s = trimmed($raw);
        next unless length $s && $s !~ /^#/;
        my ($op, @a) = split ' ', $s;
        if ($op eq 'sleep') {
            sleep($a[0]);
        } elsif ($op eq 'request') {
            my $r = do_request($a[0], $a[1], $headers);
            Test::More::is($r->{status}, 200, "$name - step '$s' status");
        } elsif ($op eq 'reload') {
            my @old = worker_pids($nginx_pid);
            ($reload_time, @reload_old_workers) = (time, @old);
            nginx_signal('reload');
            # Wait until a worker that was not there before runs (a loaded 2-core
            # machine with wrk at full speed can delay the master).
            my $deadline = time + 40;
            my %old = map { $_ => 1 } @old;
            while (time < $deadline) {
                last if grep { !$old{$_} } worker_pids($nginx_pid);
                sleep 0.05;
            }
            Test::More::ok((grep { !$old{$_} } worker_pids($nginx_pid)) > 0,
                "$name - new workers after reload")
                or Test::More::diag("children of the master: @{[worker_pids($nginx_pid)]}; "
                    . "before: @old\nerror.log tail:\n"
                    . join("\n", (lines_of("$SERVROOT/logs/error.log"))[-15 .. -1]));
        } elsif ($op eq 'old_workers_gone') {
            die "old_workers_gone needs a reload before it\n" unless defined $reload_time;
            my $deadline = $reload_time + $a[0];
            my @left = @reload_old_workers;
            while (@left && time < $deadline + 10) {
                @left = grep { kill 0, $_ } @left;
                last unless @left;
                sleep 0.02;
            }
            my $took = time - $reload_time;
            my ($todo) = join(' ', @a[1 .. $#a]) =~ /^TODO\s+(.*)/;
            local $ZmqNginx::TODO = $todo if defined $todo;
            Test::More::ok(!@left && $took <= $a[0],
                sprintf("%s - old workers (%s) gone within %ss of the reload (took %.2fs)",
                    $name, join(',', @reload_old_workers), $a[0], $took));
        } elsif ($op eq 'run') {
            my $cmd = expand_vars(join ' ', @a);
            my $out = `cd '$ROOT' && $cmd 2>&1`;
            Test::More::is($?, 0, "$name - step 'run $cmd'") or Test::More::diag($out);
        } elsif ($op eq 'quit_clean') {
            nginx_signal('quit');
            my $st = wait_pid($nginx_pid, 30);
            Test::More::ok(defined $st && $st == 0,
                "$name - nginx master exited cleanly after -s quit (status "
                . (defined $st ? ($st & 127 ? "signal " . ($st & 127) : "exit " . ($st >> 8)) : 'none')
                . ")");
            if (!defined $st) { kill 'KILL', $nginx_pid; wait_pid($nginx_pid, 5); }
            $nginx_pid = undef;
        } elsif ($op eq 'quit') {
            nginx_signal('quit');
            my $st = wait_pid($nginx_pid, 30);
            Test::More::ok(defined $st, "$name - nginx exited after -s quit");
            if (!defined $st) { kill 'KILL', $nginx_pid; wait_pid($nginx_pid, 5); }
            $nginx_pid = undef;
        } elsif ($op eq 'quit_nowait') {
            nginx_signal('quit');
        } elsif ($op eq 'nginx_wait') {
            my $st = wait_pid($nginx_pid, 30);
            Test::More::ok(defined $st, "$name - nginx exited");
            if (!defined $st) { kill 'KILL', $nginx_pid; wait_pid($nginx_pid, 5); }
            $nginx_pid = undef;
        } elsif ($op eq 'adaptor_down') {
            stop_adaptor();
        } elsif ($op eq 'adaptor_up') {
            # A subscriber that outlived the adaptor reconnects by itself; records
            # wait in the adaptor until its subscription is back.
            start_adaptor();
            start_subscriber($block) if $block->{_wants_records};
            link_up();
        } elsif ($op eq 'adaptor_restart') {
            # SIGTERM (graceful drain), then a new adaptor on the same paths at once.
            stop_adaptor();
            start_adaptor();
            link_up();
        } elsif ($op eq 'load') {
            my ($secs, $path, $conns) = @a;
            $conns //= 4;
            $wrk_pid = spawn("$TMP/wrk.out", 'wrk', '-t1', "-c$conns", "-d${secs}s",
                "http://127.0.0.1:$PORT$path");
        } elsif ($op eq 'load_wait') {
            if ($wrk_pid) {
                my $st = wait_pid($wrk_pid, 120);
                Test::More::ok(defined $st, "$name - load generator finished");
                kill 'KILL', $wrk_pid unless defined $st;
                $wrk_pid = undef;
                my $out = slurp("$TMP/wrk.out");
                Test::More::note($out);
            }
        } else {
            die "unknown step '$s'\n";
        }
    }
}

my $T0 = time;
sub trace {
    return unless $ENV{ZMQ_TEST_DEBUG};
    Test::More::diag(sprintf("%7.3f %s", time - $T0, join '', @_));
}

sub run_block {
    my $block = shift;
    my $name = $block->name;
    trace("block $name");
    unlink $LINK;
    unlink map { "$SERVROOT/logs/$_" } qw(error.log access.log stderr.log nginx.pid);
    unlink "$TMP/wrk.out";

    for my $cmd (grep { length } map { trimmed($_) } split /\n/, (section($block, 'setup') // '')) {
        $cmd = expand_vars($cmd);
        my $out = `cd '$ROOT' && $cmd 2>&1`;
        die "$name: setup '$cmd' failed:\n$out" if $?;
    }

    my $config_error = section($block, 'config_error');
    if (defined $config_error) {
        write_conf($block);
        my $out = `@{[ join ' ', map { "'$_'" } nginx_cmd('-t') ]} 2>&1`;
        my $rc = $?;
        Test::More::ok($rc != 0, "$name - nginx -t fails") or Test::More::diag($out);
        my $want = trimmed(expand_vars($config_error));
        Test::More::ok(index($out, $want) >= 0, "$name - nginx -t says \"$want\"")
            or Test::More::diag("nginx -t printed:\n$out");
        return;
    }

    my $records = section($block, 'records');
    my $count = trimmed(section($block, 'record_count'));
    my $like = trimmed(section($block, 'records_like'));
    my $eval = section($block, 'records_eval');
    my $match_log = trimmed(section($block, 'records_match_access_log'));
    my $wants = defined $records || defined $count || defined $like || defined $eval
        || defined $match_log;
    $block->{_wants_records} = $wants;
    my @expected;
    if (defined $records) {
        @expected = grep { length } split /\n/, expand_vars($records);
        $count //= scalar @expected;
    }

    my $adaptor = trimmed(section($block, 'adaptor')) // 'up';
    if ($adaptor eq 'down') {
        stop_adaptor();
    } else {
        start_adaptor();
        start_subscriber($block) if $wants;
        link_up();
    }

    trace('subscriber ready');
    write_conf($block);
    start_nginx($block);
    trace('nginx started');

    my $headers = parse_headers(section($block, 'more_headers'));
    my @reqs = grep { length } map { trimmed($_) } split /\n/, (section($block, 'request') // '');
    my $repeat = trimmed(section($block, 'repeat')) // 1;
    my $code = trimmed(section($block, 'error_code')) // 200;
    my $body = section($block, 'response_body');
    my $body_like = trimmed(section($block, 'response_body_like'));
    my (@codes, @bodies);
    for (1 .. $repeat) {
        for my $r (@reqs) {
            my ($m, $p) = split ' ', $r, 2;
            my $res = do_request($m, expand_vars($p), $headers);
            push @codes, $res->{status};
            push @bodies, $res->{content} // '';
        }
    }
    if (@reqs) {
        my @bad = grep { $_ != $code } @codes;
        Test::More::ok(!@bad, "$name - status $code for " . scalar(@codes) . " request(s)")
            or Test::More::diag("statuses: @codes\nfirst body: $bodies[0]");
        if (defined $body) {
            my $b = expand_vars($body);
            my @diff = grep { $_ ne $b } @bodies;
            Test::More::ok(!@diff, "$name - response_body") or
                Test::More::diag("expected:\n$b\ngot:\n$diff[0]");
        }
        if (defined $body_like) {
            my @diff = grep { $_ !~ /$body_like/s } @bodies;
            Test::More::ok(!@diff, "$name - response_body_like") or
                Test::More::diag("pattern: $body_like\ngot:\n$diff[0]");
        }
    }

    trace('requests done');
    run_steps($block, $name, $headers);

    my $stopped = stop_nginx();
    Test::More::ok($stopped, "$name - nginx stopped gracefully");
    trace('nginx stopped');

    if ($wants) {
        my @ids = defined $match_log ? count_access_log(qr/$match_log/) : ();
        $count //= scalar @ids if defined $match_log;
        my $timeout = trimmed(section($block, 'timeout')) // 10;
        my @got = wait_records($count, $timeout);
        trace('records in');
        if (defined $count) {
            Test::More::is(scalar @got, $count, "$name - record count")
                or Test::More::diag("first records:\n" . join("\n", @got[0 .. ($#got > 4 ? 4 : $#got)]));
        }
        if (@expected) {
            my @e = sort map { canonical($_) } @expected;
            my @g = sort map { canonical($_) } @got;
            Test::More::is_deeply(\@g, \@e, "$name - records");
        }
        if (defined $like) {
            my @bad = grep { $_ !~ /$like/ } @got;
            Test::More::ok(!@bad, "$name - records_like") or Test::More::diag("not matching: $bad[0]");
        }
        if (defined $eval) {
            my $code = eval "sub { $eval }";
            die "records_eval does not compile: $@" unless $code;
            my $err = $code->(\@got, $block);
            Test::More::ok(!$err, "$name - records_eval") or Test::More::diag($err);
        }
        if (defined $match_log) {
            Test::More::ok(@ids > 0, "$name - access log has matching requests");
            my @g = sort map { /\b([0-9a-f]{32})\b/ ? $1 : "(no request id) $_" } @got;
            my @i = sort @ids;
            Test::More::is_deeply(\@g, \@i,
                "$name - records are exactly the " . scalar(@ids) . " requests served");
        }
    }
    check_error_log($block, $name);
}

sub run_tests () {
    # "no_plan" (plan printed at the end) goes through Test::Base's plan wrapper, so
    # Test::Base does not run its own comparisons at END.
    Test::More::plan('no_plan');
    check_prerequisites();
    setup_dirs();
    for my $block (Test::Base::blocks()) {
        my $ok = eval { run_block($block); 1 };
        if (!$ok) {
            my $err = $@;
            Test::More::fail($block->name . " - ran without error");
            Test::More::diag($err);
            Test::More::diag("error.log:\n" . slurp("$SERVROOT/logs/error.log"));
            stop_nginx();
            stop_subscriber();
        }
    }
    cleanup();
}

sub cleanup {
    return unless $$ == $owner_pid;
    if ($wrk_pid) { kill 'KILL', $wrk_pid; wait_pid($wrk_pid, 5); $wrk_pid = undef; }
    stop_nginx() if $nginx_pid;
    stop_subscriber();
    eval { stop_adaptor() };
}

END { local $?; cleanup() }

1;

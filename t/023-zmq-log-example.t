# nginx/zmq_log.conf.example passes nginx -t with the real module once its
# placeholder paths point at this checkout.
use strict;
use warnings;
use lib 't/lib';
use ZmqNginx;
use File::Temp qw(tempdir);
use Test::More;

require_zmq_log_module();

my $root = root_dir();
my $dir = tempdir('zmq-log-example-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/logs";
open my $in, '<', "$root/nginx/zmq_log.conf.example" or die "example: $!";
my $conf = do { local $/; <$in> };
close $in;
ok($conf =~ s{/path/to/checkout}{$root}g, 'example has /path/to/checkout placeholders');
ok($conf =~ s/listen 8080;/listen 127.0.0.1:1;/, 'example has its listen line');
$conf = "error_log $dir/logs/error.log;\npid $dir/logs/nginx.pid;\n$conf";
$conf =~ s/^http \{/events {}\nhttp {\n    access_log off;/m;
open my $out, '>', "$dir/nginx.conf" or die $!;
print $out $conf;
close $out;
my $nginx = $ENV{TEST_NGINX_BINARY} // (-x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : 'nginx');
my $res = `'$nginx' -t -p '$dir/' -c '$dir/nginx.conf' -e '$dir/logs/error.log' 2>&1`;
is($?, 0, 'nginx -t accepts nginx/zmq_log.conf.example') or diag($res);
done_testing();

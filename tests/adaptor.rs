//! The `zmq-adaptor` binary as a real process between real publishers (the library,
//! via `zmq-loggen`) and independent SUB consumers.

mod common;
use common::adaptor::*;
use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADAPTOR: &str = env!("CARGO_BIN_EXE_zmq-adaptor");
const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

fn loggen(args: &[&str]) -> String {
    let out = Command::new(LOGGEN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn records_flow_through_the_adaptor_to_an_independent_subscriber() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let mut a = start_adaptor(&["-b", &listen, "-p", &publish, "--stats-interval", "0"]);
    let sub = Sub::connect(&publish, b"");
    wait_until_subscribed(&listen, &sub);
    let out = loggen(&[
        "-e",
        &listen,
        "-n",
        "100000",
        "--queue-records",
        "200000",
        "--prefix",
        "x",
        "--flush-ms",
        "20000",
    ]);
    assert!(out.contains("sent=100000"), "{out}");
    let got = records(&sub.collect(100_001, Duration::from_secs(3), Duration::from_secs(60)));
    assert_eq!(got.len(), 100_000, "all records arrive");
    for (i, r) in got.iter().enumerate() {
        assert!(*r == rec("x", i), "record {i} in order");
    }
    assert_eq!(
        a.proc.term(Duration::from_secs(5)),
        Some(0),
        "SIGTERM: exit 0"
    );
    let err = a.stderr();
    assert!(err.contains(" undelivered=0 "), "{err}");
}

#[test]
fn with_no_consumer_records_wait_and_late_consumers_get_them() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let mut a = start_adaptor(&["-b", &listen, "-p", &publish, "--stats-interval", "0"]);
    // Published while no consumer exists: held back (adaptor queue, then the worker's).
    let lg = Command::new(LOGGEN)
        .args([
            "-e",
            &listen,
            "-n",
            "5000",
            "--prefix",
            "late",
            "--flush-ms",
            "15000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let all = Sub::connect(&publish, b"");
    let mut out = String::new();
    let mut lg = lg;
    lg.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(lg.wait().unwrap().success());
    assert!(out.contains("sent=5000"), "{out}");
    let got = records(&all.collect(5000, Duration::from_secs(3), Duration::from_secs(30)));
    assert_eq!(
        got.len(),
        5000,
        "nothing lost while no consumer was connected"
    );
    for (i, r) in got.iter().enumerate() {
        assert!(*r == rec("late", i), "record {i} in order");
    }
    a.proc.term(Duration::from_secs(5));
}

/// An independent pyzmq consumer process (Debian's python3-zmq).
const PY: &str = "/usr/bin/python3";

#[test]
fn a_lagging_consumer_delays_the_stream_and_loses_nothing() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let maddr = free_addr();
    let mut a = adaptor_on(
        &listen,
        &publish,
        &["--publish-hwm", "1000", "--metrics", &maddr],
    );
    // Two consumers counting what they get: one reads at once, the other only after
    // a 2 s pause (its queue, then the kernel's buffers, fill up meanwhile).
    let src = "import zmq,sys,time\n\
        c=zmq.Context(); s=c.socket(zmq.SUB); s.setsockopt(zmq.RCVHWM,100)\n\
        s.setsockopt(zmq.SUBSCRIBE,b''); s.connect(sys.argv[1]); s.poll(300)\n\
        time.sleep(float(sys.argv[2])); n=0; t=time.time()\n\
        while time.time()-t<4:\n\
        \x20if s.poll(100):\n\
        \x20 s.recv(); n+=1; t=time.time()\n\
        print(n)\n";
    let consumers: Vec<_> = ["0", "2"]
        .iter()
        .map(|pause| {
            Command::new(PY)
                .args(["-c", src, &publish, pause])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    // 10,000 records of 4 KiB: far more than the socket buffers hold.
    let out = loggen(&[
        "-e",
        &listen,
        "-n",
        "10000",
        "--size",
        "4096",
        "--queue-records",
        "40000",
        "--prefix",
        "f",
        "--flush-ms",
        "30000",
    ]);
    assert!(out.contains("delivered=10000"), "{out}");
    for c in consumers {
        let res = c.wait_with_output().unwrap();
        let n: usize = String::from_utf8_lossy(&res.stdout).trim().parse().unwrap();
        assert_eq!(n, 10_000, "each consumer gets everything");
    }
    let m = get_metrics(&maddr);
    let stall =
        series(&m, "zmq_adaptor_publish_stall_seconds_total").unwrap_or_else(|| panic!("{m}"));
    assert!(
        stall > 0.5,
        "the wait for the lagging consumer is visible: {stall}"
    );
    assert!(m.contains("zmq_adaptor_consumer_drops_total 0"), "{m}");
    a.proc.term(Duration::from_secs(5));
}

/// Logs 6000 records at 2000/s while the adaptor is stopped with `sig` and started
/// again; returns the record numbers the consumer received, in arrival order, and
/// the logger's output.
fn restart_scenario(sig: i32) -> (Vec<usize>, String) {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let args = [
        "-b",
        listen.as_str(),
        "-p",
        publish.as_str(),
        "--stats-interval",
        "0",
    ];
    let mut a = start_adaptor(&args);
    let sub = Sub::connect(&publish, b"");
    wait_until_subscribed(&listen, &sub);
    // 6000 records over ~3 s while the adaptor goes away and comes back.
    let lg = Command::new(LOGGEN)
        .args([
            "-e",
            &listen,
            "-n",
            "6000",
            "--rate",
            "2000",
            "--prefix",
            "r",
            "--flush-ms",
            "20000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    if sig == libc::SIGKILL {
        a.proc.kill9();
    } else {
        assert_eq!(a.proc.term(Duration::from_secs(5)), Some(0));
    }
    std::thread::sleep(Duration::from_millis(700));
    let mut b = start_adaptor(&args);
    let mut lg = lg;
    let mut out = String::new();
    lg.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(lg.wait().unwrap().success());
    assert!(
        out.contains("delivered=6000"),
        "every record was acknowledged: {out}"
    );
    let got = records(&sub.collect(6000, Duration::from_secs(3), Duration::from_secs(30)));
    b.proc.term(Duration::from_secs(5));
    let nums = got
        .iter()
        .map(|r| std::str::from_utf8(&r[2..]).unwrap().parse().unwrap())
        .collect();
    (nums, out)
}

#[test]
fn adaptor_restart_with_sigterm_loses_nothing_and_duplicates_nothing() {
    let (got, out) = restart_scenario(libc::SIGTERM);
    // The stopping adaptor drained and acknowledged what it took; the worker kept the
    // rest and sent it to the new one: every record once, in order.
    assert_eq!(got, (0..6000).collect::<Vec<_>>(), "{out}");
}

#[test]
fn adaptor_kill9_loses_nothing_and_repeats_at_most_the_unacknowledged() {
    let (got, out) = restart_scenario(libc::SIGKILL);
    // kill -9: records the dead adaptor forwarded but had not acknowledged yet are
    // sent again to the next one (at-least-once); nothing is lost.
    let seen: std::collections::BTreeSet<usize> = got.iter().copied().collect();
    assert_eq!(seen.len(), 6000, "none lost: {out}");
    let repeated = got.len() - seen.len();
    eprintln!("kill -9 restart: 6000 delivered, {repeated} repeated");
    // At most what can be unacknowledged: 2 ms of acknowledgement delay at 2000/s,
    // plus one batch interval; generously bounded by a second of traffic.
    assert!(repeated <= 2000, "repeated {repeated}");
}

#[test]
fn reverse_channel_end_to_end() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let reverse_pub = free_tcp();
    let push = ipc(dir.path(), "push");
    // The tracking service binds a PUB; the adaptor's SUB connects to it (-l).
    let ctx = zmq::Context::new();
    let tracker = ctx.socket(zmq::PUB).unwrap();
    tracker.set_linger(0).unwrap();
    tracker.bind(&reverse_pub).unwrap();
    let mut a = adaptor_on(&listen, &publish, &["-l", &reverse_pub, "-u", &push]);
    assert!(a.wait_for("reverse channel", Duration::from_secs(5)));
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_linger(0).unwrap();
    pull.connect(&push).unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while got.len() < 5 && start.elapsed() < Duration::from_secs(10) {
        tracker
            .send(format!("block-key-{i}").as_bytes(), 0)
            .unwrap();
        i += 1;
        if pull.poll(zmq::POLLIN, 50).unwrap() > 0 {
            while let Ok(m) = pull.recv_bytes(zmq::DONTWAIT) {
                got.push(String::from_utf8(m).unwrap());
            }
        }
    }
    assert!(got.len() >= 5, "commands reach the gateway side: {got:?}");
    assert!(got.iter().all(|m| m.starts_with("block-key-")));
    a.proc.term(Duration::from_secs(5));
}

#[test]
fn reverse_test_mode_runs_its_own_publisher_and_receiver() {
    let dir = tempdir();
    let l = free_tcp();
    let u = ipc(dir.path(), "push");
    let mut a = adaptor_on(
        &ipc(dir.path(), "listen"),
        &free_tcp(),
        &["-r", "-l", &l, "-u", &u, "--test-interval-ms", "20"],
    );
    assert!(
        a.wait_for("reverse: received SEND-", Duration::from_secs(10)),
        "{}",
        a.stdout()
    );
    a.proc.term(Duration::from_secs(5));
}

#[test]
fn debug_mode_prints_messages_and_events() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let mut a = start_adaptor(&["-d", "-b", &listen, "-p", &publish, "--stats-interval", "0"]);
    let sub = Sub::connect(&publish, b"");
    wait_until_subscribed(&listen, &sub);
    loggen(&[
        "-e",
        &listen,
        "-n",
        "3",
        "--prefix",
        "dbg\u{1}",
        "--flush-ms",
        "5000",
    ]);
    assert!(
        a.wait_for("dbg\\x01-0000002", Duration::from_secs(5)),
        "{}",
        a.stdout()
    );
    let out = a.stdout();
    assert!(out.contains("message 12 bytes: dbg\\x01-0000000"), "{out}");
    assert!(out.contains("subscribe ''"), "{out}");
    assert!(out.contains("event listen listening"), "{out}");
    assert!(out.contains("event publish accepted"), "{out}");
    a.proc.term(Duration::from_secs(5));
}

#[test]
fn test_mode_prints_latency() {
    let dir = tempdir();
    let mut a = start_adaptor(&[
        "-t",
        "-b",
        &ipc(dir.path(), "listen"),
        "-p",
        &free_tcp(),
        "--test-interval-ms",
        "20",
        "--stats-interval",
        "0.5",
    ]);
    assert!(
        a.wait_for("test: got PUB-", Duration::from_secs(10)),
        "{}",
        a.stdout()
    );
    assert_eq!(a.proc.term(Duration::from_secs(5)), Some(0));
    std::thread::sleep(Duration::from_millis(100));
    let out = a.stdout();
    let line = out
        .lines()
        .rev()
        .find(|l| l.contains("messages processed, latency min/avg/max"))
        .unwrap_or_else(|| panic!("{out}"));
    let n: u64 = line
        .split("test: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(n > 0, "{line}");
    assert!(
        a.stderr().contains("stats: received "),
        "periodic stats line: {}",
        a.stderr()
    );
    assert!(!out.contains("stats: "), "stdout is for data only: {out}");
}

#[test]
fn help_version_unknown_flag_and_bad_endpoint() {
    let help = Command::new(ADAPTOR).arg("--help").output().unwrap();
    assert!(help.status.success());
    let h = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "-b",
        "-p",
        "-l",
        "-u",
        "-d",
        "-t",
        "-r",
        "--ipc-mode",
        "--ipc-group",
    ] {
        assert!(h.contains(flag), "--help lists {flag}");
    }
    let v = Command::new(ADAPTOR).arg("--version").output().unwrap();
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).contains("zmq-adaptor"));

    let bad = Command::new(ADAPTOR).arg("-x").output().unwrap();
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unexpected argument"));

    let dir = tempdir();
    for ep in ["tcp://127.0.0.1", "udp://x:1", "nonsense"] {
        let out = Command::new(ADAPTOR)
            .args(["-b", &ipc(dir.path(), "l"), "-p", ep])
            .output()
            .unwrap();
        // A usage error, refused while parsing the flags (exit 2, like clap's).
        assert_eq!(out.status.code(), Some(2), "{ep}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("bad endpoint '{ep}'")),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bad_mode = Command::new(ADAPTOR)
        .args(["--ipc-mode", "999"])
        .output()
        .unwrap();
    assert_ne!(bad_mode.status.code(), Some(0));
}

#[test]
fn ipc_mode_group_stale_file_and_in_use() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempdir();
    let path = dir.path().join("listen");
    // A stale socket file from a crashed run: a plain file nobody listens on.
    {
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(l); // the file stays, nobody listens
    }
    assert!(path.exists());
    let listen = format!("ipc://{}", path.display());
    let mut a = adaptor_on(
        &listen,
        &free_tcp(),
        &["--ipc-mode", "0660", "--ipc-group", "nogroup"],
    );
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    assert_eq!(Some(m.gid()), zmq_adaptor::adaptor::group_id("nogroup"));

    // A second adaptor on the same live socket refuses to steal it.
    let second = Command::new(ADAPTOR)
        .args(["-b", &listen, "-p", &free_tcp()])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use"));
    a.proc.term(Duration::from_secs(5));
    let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755));
}

#[test]
fn warns_when_workers_could_not_connect() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    // Default mode of a socket file root creates is not writable by others.
    let mut a = adaptor_on(
        &listen,
        &free_tcp(),
        &["--ipc-mode", "0600", "--worker-user", "nobody"],
    );
    assert!(
        a.wait_for(
            "WARNING: nginx workers running as 'nobody' cannot connect",
            Duration::from_secs(3)
        ),
        "{}",
        a.stderr()
    );
    a.proc.term(Duration::from_secs(5));
    let mut ok = adaptor_on(
        &listen,
        &free_tcp(),
        &["--ipc-mode", "0666", "--worker-user", "nobody"],
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!ok.stderr().contains("WARNING"), "{}", ok.stderr());
    ok.proc.term(Duration::from_secs(5));
}

#[test]
fn library_proxy_pause_resume_stats() {
    use zmq_adaptor::proxy::{Proxy, ProxyConfig};
    let dir = tempdir();
    let cfg = ProxyConfig {
        listen: ipc(dir.path(), "listen"),
        publish: "tcp://127.0.0.1:*".into(),
        ..ProxyConfig::default()
    };
    let p = Proxy::start(&cfg, None, None).unwrap();
    let publish = p.endpoints().1.to_string();
    let sub = Sub::connect(&publish, b"");
    wait_until_subscribed(&cfg.listen, &sub);
    assert!(p.subscriptions() >= 1);
    let ctx = zmq::Context::new();
    let pubs = ctx.socket(zmq::PUB).unwrap();
    pubs.set_linger(0).unwrap();
    pubs.connect(&cfg.listen).unwrap();
    // Until this publisher's own messages come through (PUB drops before that).
    let start = Instant::now();
    let n0 = sub.count();
    while sub.count() == n0 && start.elapsed() < Duration::from_secs(5) {
        pubs.send(&b"warm"[..], 0).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    p.pause().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = sub.count();
    for i in 0..10 {
        pubs.send(format!("p{i}").as_bytes(), 0).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sub.count(), before, "paused: nothing forwarded");
    p.resume().unwrap();
    let got = sub.collect(before + 10, Duration::from_secs(2), Duration::from_secs(10));
    assert_eq!(got.len(), before + 10, "resumed: held messages forwarded");
    let s = p.stats().unwrap();
    assert_eq!(s.frontend_msgs_in, s.backend_msgs_out);
    assert!(s.backend_msgs_in >= 1, "consumer subscription counted");
    let t = Instant::now();
    p.stop();
    assert!(t.elapsed() < Duration::from_secs(3), "stop is prompt");
}

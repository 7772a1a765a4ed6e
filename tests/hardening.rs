//! Bad input and bounds: lengths and settings no caller should pass, flags and
//! endpoints that cannot work, signals, and two adaptors racing for one ipc path.
//! Real processes and real peers throughout.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// Field `name=` of a "k=v k=v" line.
fn field(out: &str, name: &str) -> u64 {
    out.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {out}"))
}

#[test]
fn c_overflowing_lengths_and_absurd_settings_get_codes_and_leak_no_budget() {
    let dir = tempdir();
    let exe = compile_c("bad_input", dir.path());
    let ep = ipc(dir.path(), "listen");
    let sub = Sub::bind(&ep, b"");
    let count = 2000usize;
    let out = Command::new(&exe)
        .args([&ep, &count.to_string()])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
    let first = stdout.lines().next().unwrap_or("");
    assert_eq!(field(first, "too_large"), 600, "{stdout}");
    assert_eq!(field(first, "queue_bytes"), 0, "{stdout}");
    let got = sub.collect(count, Duration::from_secs(3), Duration::from_secs(30));
    assert_eq!(got.len(), count, "every good record arrives: {stdout}");
    for (i, m) in got.iter().enumerate() {
        assert!(
            m.len() == 2 && m[0] == b"billing" && m[1] == rec("good", i),
            "record {i}"
        );
    }
}

const ADAPTOR: &str = env!("CARGO_BIN_EXE_zmq-adaptor");
const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

fn free_tcp() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://127.0.0.1:{}", l.local_addr().unwrap().port())
}

/// Runs the adaptor with `args` to completion (it must refuse to start).
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(ADAPTOR)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn adaptor_flags_and_endpoints_that_cannot_work_exit_2_with_a_message() {
    let dir = tempdir();
    let ok_listen = ipc(dir.path(), "l");
    let long = format!("ipc:///tmp/{}", "x".repeat(110));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--stats-interval".into(), "inf".into()],
            "'inf' is not a number of seconds",
        ),
        (
            vec!["--stats-interval".into(), "nan".into()],
            "'nan' is not a number of seconds",
        ),
        (
            vec!["--stats-interval=-1".into()],
            "'-1' is not a number of seconds",
        ),
        (
            vec!["--stats-interval".into(), "1e30".into()],
            "between 0 and 86400",
        ),
        (
            vec!["--ipc-mode".into(), "7777".into()],
            "setuid, setgid or sticky",
        ),
        (
            vec!["--ipc-mode".into(), "4755".into()],
            "setuid, setgid or sticky",
        ),
        (
            vec!["--ipc-mode".into(), "999".into()],
            "not an octal file mode",
        ),
        (vec!["--listen-hwm=-1".into()], "--listen-hwm"),
        (
            vec!["-b".into(), "tcp://256.1.1.1:5".into()],
            "'256.1.1.1' is not an IPv4 address",
        ),
        (
            vec![
                "-p".into(),
                "tcp://no-such-host.invalid:5".into(),
                "-b".into(),
                ok_listen.clone(),
            ],
            "is not *, an IP address, a resolvable host name or a network interface",
        ),
        (
            vec![
                "-b".into(),
                format!("ipc://{}/missing/sock", dir.path().display()),
            ],
            "missing does not exist",
        ),
        (
            vec!["-b".into(), long],
            "at most 107 fit a unix socket address",
        ),
        (
            vec![
                "-b".into(),
                ok_listen.clone(),
                "-l".into(),
                "tcp://1.2.3.400:5".into(),
            ],
            "'1.2.3.400' is not an IPv4 address",
        ),
        (
            vec!["-p".into(), "udp://1.2.3.4:5".into()],
            "unknown transport 'udp'",
        ),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = refused(&a);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: wanted '{want}' in: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Accepted edges: 0 (never) and the mode bits themselves.
    let mut a = spawn_adaptor(&[
        "-b",
        &ok_listen,
        "-p",
        &free_tcp(),
        "--stats-interval",
        "0",
        "--ipc-mode",
        "0777",
    ]);
    assert!(wait_line(&mut a, "forwarding", Duration::from_secs(10)).is_some());
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

/// A running adaptor whose stdout and stderr lines are collected by threads.
struct Running {
    proc: Proc,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn spawn_adaptor(args: &[&str]) -> Running {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(ADAPTOR)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for pipe in pipes {
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
    }
    Running {
        proc: Proc(child),
        lines,
    }
}

/// The first collected line containing `needle`, waiting up to `timeout` (None when
/// the process exits or time runs out first).
fn wait_line(r: &mut Running, needle: &str, timeout: Duration) -> Option<String> {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if let Some(l) = r.lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        if let Ok(Some(_)) = r.proc.0.try_wait() {
            std::thread::sleep(Duration::from_millis(50)); // let the readers finish
            return r
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn loggen(ep: &str, prefix: &str, n: usize) {
    let out = Command::new(LOGGEN)
        .args([
            "-e",
            ep,
            "-n",
            &n.to_string(),
            "--prefix",
            prefix,
            "--flush-ms",
            "10000",
        ])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && s.contains("flushed=yes"), "{s}");
}

#[test]
fn sighup_logs_a_reload_line_and_the_adaptor_keeps_forwarding() {
    let dir = tempdir();
    let (listen, publish) = (ipc(dir.path(), "listen"), free_tcp());
    let mut a = spawn_adaptor(&["-b", &listen, "-p", &publish, "--stats-interval", "0"]);
    assert!(wait_line(&mut a, "forwarding", Duration::from_secs(10)).is_some());
    let sub = Sub::connect(&publish, b"");
    // The consumer's subscription has reached the adaptor once a probe gets through.
    let probe = zmq::Context::new().socket(zmq::PUB).unwrap();
    probe.set_linger(0).unwrap();
    probe.connect(&listen).unwrap();
    let start = std::time::Instant::now();
    while sub.count() == 0 && start.elapsed() < Duration::from_secs(10) {
        probe.send(&b"probe"[..], 0).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(sub.count() > 0, "consumer never subscribed");
    drop(probe);
    loggen(&listen, "before", 500);
    for _ in 0..3 {
        // SAFETY: kill with the pid of a child we own and a valid signal.
        unsafe { libc::kill(a.proc.0.id() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = wait_line(&mut a, "reload (SIGHUP)", Duration::from_secs(5))
        .expect("a reload line after SIGHUP");
    assert!(line.contains("still forwarding"), "{line}");
    assert_eq!(a.proc.0.try_wait().unwrap(), None, "alive after SIGHUP");
    loggen(&listen, "after", 500);
    let got = sub.collect(1000, Duration::from_secs(3), Duration::from_secs(20));
    let recs: Vec<_> = got
        .iter()
        .map(|m| m.last().unwrap().clone())
        .filter(|r| r.as_slice() != b"probe")
        .collect();
    let expect: Vec<_> = (0..500)
        .map(|i| rec("before", i))
        .chain((0..500).map(|i| rec("after", i)))
        .collect();
    assert_eq!(recs, expect, "every record, in order, across SIGHUPs");
    let n = a
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("reload (SIGHUP)"))
        .count();
    assert_eq!(n, 3, "one line per SIGHUP");
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn two_adaptor_processes_on_one_ipc_path_exactly_one_wins_every_round() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    for round in 0..20 {
        let (p1, p2) = (free_tcp(), free_tcp());
        let mut a = spawn_adaptor(&["-b", &listen, "-p", &p1, "--stats-interval", "0"]);
        let mut b = spawn_adaptor(&["-b", &listen, "-p", &p2, "--stats-interval", "0"]);
        let mut winners = 0;
        for r in [&mut a, &mut b] {
            let start = std::time::Instant::now();
            // Each either reports forwarding or exits with the in-use message.
            loop {
                let lines = r.lines.lock().unwrap().join("\n");
                if lines.contains("forwarding") {
                    winners += 1;
                    break;
                }
                if let Ok(Some(st)) = r.proc.0.try_wait() {
                    std::thread::sleep(Duration::from_millis(50));
                    let lines = r.lines.lock().unwrap().join("\n");
                    assert_eq!(st.code(), Some(1), "round {round}: {lines}");
                    assert!(
                        lines.contains("held by another running adaptor")
                            || lines.contains("in use"),
                        "round {round}: {lines}"
                    );
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "round {round}: neither forwarding nor refused"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert_eq!(
            winners, 1,
            "round {round}: exactly one adaptor serves the path"
        );
        for r in [&mut a, &mut b] {
            if let Ok(None) = r.proc.0.try_wait() {
                assert_eq!(r.proc.term(Duration::from_secs(10)), Some(0));
            }
        }
    }
}

#[test]
fn two_in_process_proxies_on_one_ipc_path_exactly_one_wins_every_round() {
    use std::sync::{Arc, Barrier};
    use zmq_adaptor::ffi::proxy::{
        zmq_adaptor_proxy, zmq_adaptor_proxy_config, zmq_adaptor_proxy_start,
        zmq_adaptor_proxy_stop,
    };
    use zmq_adaptor::zmq_adaptor_result as R;
    let dir = tempdir();
    let listen = std::ffi::CString::new(ipc(dir.path(), "listen")).unwrap();
    // Many contenders and rounds: without the lock (the former connect-then-bind
    // check alone) two proxies "won" the same path within 50 rounds here.
    let contenders = 6;
    for round in 0..200 {
        let barrier = Arc::new(Barrier::new(contenders));
        let handles: Vec<_> = (0..contenders)
            .map(|_| {
                let (barrier, listen) = (barrier.clone(), listen.clone());
                let publish = std::ffi::CString::new(free_tcp()).unwrap();
                std::thread::spawn(move || {
                    let cfg = zmq_adaptor_proxy_config {
                        listen: listen.as_ptr(),
                        publish: publish.as_ptr(),
                        listen_hwm: 0,
                        publish_hwm: 0,
                        ipc_mode: 0,
                        ipc_group: std::ptr::null(),
                        linger_ms: 0,
                    };
                    let mut px: *mut zmq_adaptor_proxy = std::ptr::null_mut();
                    barrier.wait();
                    let rc = zmq_adaptor_proxy_start(&cfg, &mut px);
                    (rc, px as usize)
                })
            })
            .collect();
        let results: Vec<(i32, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let codes: Vec<i32> = results.iter().map(|r| r.0).collect();
        let ok = codes
            .iter()
            .filter(|c| **c == R::ZMQ_ADAPTOR_OK as i32)
            .count();
        let in_use = codes
            .iter()
            .filter(|c| **c == R::ZMQ_ADAPTOR_ERR_IN_USE as i32)
            .count();
        assert_eq!(
            (ok, in_use),
            (1, contenders - 1),
            "round {round}: codes {codes:?}"
        );
        for (rc, px) in results {
            if rc == R::ZMQ_ADAPTOR_OK as i32 {
                assert_eq!(zmq_adaptor_proxy_stop(px as *mut zmq_adaptor_proxy), 0);
            } else {
                assert_eq!(px, 0, "no handle on failure");
            }
        }
    }
}

#[test]
fn the_ipc_lock_is_what_decides_and_a_killed_owner_never_blocks_a_restart() {
    let dir = tempdir();
    let path = dir.path().join("listen");
    let listen = format!("ipc://{}", path.display());
    // Whoever holds PATH.lock owns the path, even before any socket file exists.
    let held = zmq_adaptor::ipc_lock::acquire(&path).unwrap();
    let (code, err) = refused(&["-b", &listen, "-p", &free_tcp()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("in use by a running process"), "{err}");
    assert!(!path.exists(), "the loser did not touch the path");
    drop(held);
    // An owner killed with SIGKILL leaves its socket and lock files behind; the
    // kernel dropped the lock with the process, so a new adaptor starts at once.
    let mut a = spawn_adaptor(&["-b", &listen, "-p", &free_tcp(), "--stats-interval", "0"]);
    assert!(wait_line(&mut a, "forwarding", Duration::from_secs(10)).is_some());
    a.proc.kill9();
    assert!(path.exists() && zmq_adaptor::ipc_lock::lock_path(&path).exists());
    let mut b = spawn_adaptor(&["-b", &listen, "-p", &free_tcp(), "--stats-interval", "0"]);
    assert!(
        wait_line(&mut b, "forwarding", Duration::from_secs(10)).is_some(),
        "{:?}",
        b.lines.lock().unwrap()
    );
    let m = std::fs::metadata(zmq_adaptor::ipc_lock::lock_path(&path)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        m.permissions().mode() & 0o777,
        0o600,
        "lock file not writable by others"
    );
    assert_eq!(b.proc.term(Duration::from_secs(10)), Some(0));
}

//! The `zmq-adaptor` binary's consumer tools and config file, as real processes:
//! `pub` → a real adaptor → `tail`, and `--config FILE` driving a real adaptor.

mod common;
use common::adaptor::{free_addr, free_tcp, get_metrics, series};
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADAPTOR: &str = env!("CARGO_BIN_EXE_zmq-adaptor");

fn spawn(args: &[&str]) -> Proc {
    Proc(
        Command::new(ADAPTOR)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits (bounded) for `p` to exit; returns (exit code, stdout, stderr).
fn finish(mut p: Proc, timeout: Duration) -> (Option<i32>, String, String) {
    let code = p.wait(timeout);
    if code.is_none() {
        p.kill9();
    }
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = p.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = p.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (code, out, err)
}

/// Runs `zmq-adaptor pub` with `input` on stdin; returns its exit code and stderr.
fn run_pub(endpoint: &str, extra: &[&str], input: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new(ADAPTOR)
        .arg("pub")
        .arg(endpoint)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let (code, _, err) = finish(Proc(child), Duration::from_secs(20));
    (code, err)
}

/// An adaptor on a private ipc listen endpoint and a free tcp publish port.
fn adaptor(dir: &std::path::Path) -> (Proc, String, String) {
    let listen = ipc(dir, "listen");
    let publish = free_tcp();
    let mut a = spawn(&["-b", &listen, "-p", &publish, "--stats-interval", "0"]);
    // Ready once the listen socket file exists.
    let path = dir.join("listen");
    let start = Instant::now();
    while !path.exists() && start.elapsed() < Duration::from_secs(10) {
        assert_eq!(a.wait(Duration::from_millis(20)), None, "adaptor exited");
    }
    assert!(path.exists(), "adaptor never bound {listen}");
    (a, listen, publish)
}

#[test]
fn pub_through_a_real_adaptor_to_tail() {
    let dir = tempdir();
    let (mut a, listen, publish) = adaptor(dir.path());
    let n = 200;
    let tail = spawn(&["tail", &publish, "--count", &n.to_string()]);
    let mut input = Vec::new();
    let mut want = Vec::new();
    for i in 0..n - 1 {
        input.extend_from_slice(format!("rec-{i:04} {{\"status\":200}}\n").as_bytes());
        want.push(format!("rec-{i:04} {{\"status\":200}}"));
    }
    // A binary record is printed escaped, still one line.
    input.extend_from_slice(b"bin\x01\tend\\\n");
    want.push("bin\\x01\\tend\\\\".to_string());
    let (code, err) = run_pub(&listen, &[], &input);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("{n} records sent")), "{err}");
    let (code, out, err) = finish(tail, Duration::from_secs(20));
    assert_eq!(code, Some(0), "tail exits after --count records: {err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    assert_eq!(a.term(Duration::from_secs(5)), Some(0));
}

#[test]
fn tail_json_and_topic_filter() {
    let dir = tempdir();
    let (mut a, listen, publish) = adaptor(dir.path());
    let tail = spawn(&[
        "tail", &publish, "--topic", "billing", "--json", "--count", "2",
    ]);
    // Records on another topic, then two on the subscribed one.
    let (code, err) = run_pub(&listen, &["--topic", "audit"], b"x1\nx2\n");
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run_pub(&listen, &["--topic", "billing"], b"{\"a\":1}\nb\xffc\n");
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = finish(tail, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    let got: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            serde_json::json!({"topic": "billing", "record": "{\"a\":1}"}),
            serde_json::json!({"topic": "billing", "record": "b\\xffc", "escaped": true}),
        ]
    );
    assert_eq!(a.term(Duration::from_secs(5)), Some(0));
}

#[test]
fn tail_packed_decodes_batches_and_filters_records_by_topic() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let (publish, packed, metrics) = (free_tcp(), free_tcp(), free_addr());
    let mut a = spawn(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--publish-packed",
        &packed,
        "--packed-compression",
        "lz4",
        "--metrics",
        &metrics,
        "--stats-interval",
        "0",
    ]);
    let tail = spawn(&[
        "tail", "--packed", &packed, "--topic", "billing", "--count", "30",
    ]);
    // Packed consumers get what arrives while they are subscribed: publish topic-less
    // warm-up records until one went out on the packed stream.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "tail never subscribed"
        );
        let (code, err) = run_pub(&listen, &[], b"warm-up\n");
        assert_eq!(code, Some(0), "{err}");
        std::thread::sleep(Duration::from_millis(100));
        let m = scrape(&metrics);
        if series(&m, "zmq_adaptor_packed_records_total").unwrap_or(0.0) > 0.0 {
            break;
        }
    }
    let other: String = (0..20).map(|i| format!("other-{i}\n")).collect();
    let (code, err) = run_pub(&listen, &[], other.as_bytes());
    assert_eq!(code, Some(0), "{err}");
    let mut bills = String::new();
    let mut want = Vec::new();
    for i in 0..30 {
        bills.push_str(&format!("bill-{i} {{\"units\":{i}}}\n"));
        want.push(format!("bill-{i} {{\"units\":{i}}}"));
    }
    let (code, err) = run_pub(&listen, &["--topic", "billing.v1"], bills.as_bytes());
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = finish(tail, Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "tail --packed exits after --count records: {err}"
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    // A malformed packed message: a clear error and exit 1, not a hang or a panic.
    let ctx = zmq::Context::new();
    let x = ctx.socket(zmq::XPUB).unwrap();
    let rogue = free_tcp();
    x.bind(&rogue).unwrap();
    let bad = spawn(&["tail", "--packed", &rogue]);
    assert_eq!(x.poll(zmq::POLLIN, 10_000).unwrap(), 1, "tail subscribes");
    assert_eq!(x.recv_bytes(0).unwrap(), b"\x01\xffZAK\x01");
    x.send_multipart([&zmq_adaptor::packed::SIGNATURE[..], b"\x00short"], 0)
        .unwrap();
    let (code, _, err) = finish(bad, Duration::from_secs(10));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("packed stream: malformed"), "{err}");
    assert_eq!(a.term(Duration::from_secs(5)), Some(0));
}

#[test]
fn pub_without_a_peer_fails_clearly() {
    let dir = tempdir();
    let (code, err) = run_pub(&ipc(dir.path(), "nobody"), &["--wait", "0.3"], b"lost\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("no subscriber at"), "{err}");
}

#[test]
fn config_file_runs_the_adaptor_and_flags_override_it() {
    let dir = tempdir();
    let publish = free_tcp();
    let cfg = dir.path().join("zmq-adaptor.toml");
    std::fs::write(
        &cfg,
        format!(
            "# example\nbind = \"{}\"\npublish = \"tcp://127.0.0.1:1\"\nstats-interval = 0.2\n",
            ipc(dir.path(), "listen")
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let mut a = spawn(&["--config", cfg_s, "--publish", &publish]);
    let tail = spawn(&["tail", &publish, "--count", "1"]);
    let start = Instant::now();
    let mut code = None;
    while start.elapsed() < Duration::from_secs(10) {
        (code, _) = publish_once(&ipc(dir.path(), "listen"));
        if code == Some(0) {
            break;
        }
    }
    assert_eq!(code, Some(0), "pub reached the adaptor bound from the file");
    let (tcode, out, _) = finish(tail, Duration::from_secs(20));
    assert_eq!((tcode, out.trim()), (Some(0), "from-pub"));
    // stats-interval = 0.2 from the file: periodic lines besides the final one.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(a.term(Duration::from_secs(5)), Some(0));
    let (_, out, err) = finish(a, Duration::from_secs(1));
    let stats = err.lines().filter(|l| l.contains(" stats: ")).count();
    assert!(stats >= 3, "stats-interval from the file: {err}");
    assert!(!out.contains(" stats: "), "stats go to stderr: {out}");
    assert!(
        out.contains(&format!("-> {publish}")),
        "--publish overrides: {out}"
    );

    std::fs::write(
        &cfg,
        "publish = \"tcp://127.0.0.1:1\"\n\nstats_interval = 1\n",
    )
    .unwrap();
    let (code, _, err) = finish(spawn(&["--config", cfg_s]), Duration::from_secs(10));
    assert_eq!(code, Some(2));
    assert!(err.contains(":3: unknown key 'stats_interval'"), "{err}");
}

fn publish_once(endpoint: &str) -> (Option<i32>, String) {
    run_pub(endpoint, &["--wait", "0.5"], b"from-pub\n")
}

/// `GET /metrics` over a plain TCP connection; the response.
fn scrape(addr: &str) -> String {
    get_metrics(addr)
}

#[test]
fn metrics_process_section_build_info_and_open_peers() {
    use std::io::BufRead;
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let mut a = spawn(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--stats-interval",
        "0",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let mut lines = std::io::BufReader::new(a.0.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .take(10)
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("metrics on http://")
                .nth(1)
                .map(|r| r.trim_end_matches("/metrics").to_string())
        })
        .expect("metrics address on stdout");
    // One publisher on the listen side, two consumers on the publish side.
    let ctx = zmq::Context::new();
    let p = ctx.socket(zmq::PUB).unwrap();
    p.set_linger(0).unwrap();
    p.connect(&listen).unwrap();
    let (_c1, _c2) = (Sub::connect(&publish, b""), Sub::connect(&publish, b"x"));
    let start = Instant::now();
    let mut body = scrape(&addr);
    while !(body.contains("zmq_adaptor_open_peers{side=\"listen\"} 1")
        && body.contains("zmq_adaptor_open_peers{side=\"publish\"} 2"))
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
        body = scrape(&addr);
    }
    let (x, y, z) = zmq::version();
    for want in [
        format!(
            "zmq_adaptor_build_info{{version=\"{}\",libzmq=\"{x}.{y}.{z}\",curve=\"true\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "zmq_adaptor_open_peers{side=\"listen\"} 1".to_string(),
        "zmq_adaptor_open_peers{side=\"publish\"} 2".to_string(),
        "# TYPE zmq_adaptor_uptime_seconds gauge".to_string(),
        "# TYPE process_open_fds gauge".to_string(),
        "# TYPE process_resident_memory_bytes gauge".to_string(),
        "process_cpu_seconds_total ".to_string(),
        "# TYPE process_start_time_seconds gauge".to_string(),
    ] {
        assert!(body.contains(&want), "{want} in:\n{body}");
    }
    drop(p);
    assert_eq!(a.term(Duration::from_secs(5)), Some(0));
}

#[test]
fn tail_with_curve_keys_reads_a_curve_adaptor_and_an_unlisted_key_gets_nothing() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir(d.join("clients")).unwrap();
    for name in ["server", "me", "stranger"] {
        let out = Command::new(ADAPTOR)
            .args(["keygen", d.join(name).to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    std::fs::copy(d.join("me.key"), d.join("clients/me.key")).unwrap();
    let listen = ipc(d, "listen");
    let publish = free_tcp();
    let path = |n: &str| d.join(n).to_str().unwrap().to_string();
    let mut a = spawn(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--stats-interval",
        "0",
        "--curve-secret",
        &path("server.key_secret"),
        "--curve-clients",
        &path("clients"),
    ]);
    let tail_as = |who: &str| {
        spawn(&[
            "tail",
            &publish,
            "--count",
            "1",
            "--curve-secret",
            &path(&format!("{who}.key_secret")),
            "--curve-server-key",
            &path("server.key"),
        ])
    };
    let (good, mut bad) = (tail_as("me"), tail_as("stranger"));
    let (code, err) = run_pub(&listen, &[], b"over-curve\n");
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = finish(good, Duration::from_secs(20));
    assert_eq!((code, out.trim()), (Some(0), "over-curve"), "{err}");
    assert_eq!(
        bad.wait(Duration::from_millis(500)),
        None,
        "refused tail waits"
    );
    bad.kill9();
    let (_, out, _) = finish(bad, Duration::from_secs(1));
    assert_eq!(out, "", "an unlisted key receives nothing");
    assert_eq!(a.term(Duration::from_secs(5)), Some(0));
    let (_, _, err) = finish(a, Duration::from_secs(1));
    assert!(
        err.contains("refused"),
        "the adaptor logs the refusal: {err}"
    );
}

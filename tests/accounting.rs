//! Every record delivered or counted: the adaptor's books (`/metrics`, its final
//! `undelivered=` line) and the workers' (`undelivered=` at exit) add up, against
//! hostile peers, slow consumers and stops.

mod common;
use common::adaptor::*;
use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

/// `GET /metrics`, parsed into (series, value) pairs.
fn scrape(addr: &str) -> Vec<(String, f64)> {
    let body = get_metrics(addr);
    assert!(
        body.starts_with("HTTP/1.") && body.contains(" 200 "),
        "{body}"
    );
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn metric(m: &[(String, f64)], name: &str) -> u64 {
    m.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v as u64)
        .unwrap_or_else(|| panic!("{name} missing in {m:?}"))
}

fn dropped_sum(m: &[(String, f64)]) -> u64 {
    m.iter()
        .filter(|(k, _)| k.starts_with("zmq_adaptor_records_dropped_total{"))
        .map(|(_, v)| *v as u64)
        .sum()
}

/// Asserts `received == forwarded + Σ dropped + backlog` on one scrape.
fn assert_books_balance(m: &[(String, f64)]) -> u64 {
    let received = metric(m, "zmq_adaptor_records_received_total");
    let forwarded = metric(m, "zmq_adaptor_records_forwarded_total");
    let backlog = metric(m, "zmq_adaptor_backlog_records");
    assert_eq!(
        received,
        forwarded + dropped_sum(m) + backlog,
        "books balance: {m:?}"
    );
    received
}

fn field(out: &str, name: &str) -> u64 {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.trim_end_matches([';', ',']).parse().ok())
        .unwrap_or_else(|| panic!("{name}= missing in {out}"))
}

#[test]
fn rogue_peers_cannot_close_or_fake_the_consumer_gate() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let maddr = free_addr();
    let mut a = adaptor_on(&listen, &publish, &["--metrics", &maddr]);
    let real = Sub::connect(&publish, b"");
    wait_until_subscribed(&listen, &real);
    // Rogue peers on the consumers' side, speaking raw subscription messages.
    let ctx = zmq::Context::new();
    let rogue = ctx.socket(zmq::XSUB).unwrap();
    rogue.set_linger(0).unwrap();
    rogue.connect(&publish).unwrap();
    let dup = ctx.socket(zmq::XSUB).unwrap();
    dup.set_linger(0).unwrap();
    dup.connect(&publish).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..50 {
        // Stray unsubscribes for subscriptions this peer never made.
        rogue.send(&b"\x00"[..], 0).unwrap();
        rogue.send(&b"\x00billing."[..], 0).unwrap();
    }
    // A duplicate subscribe, then the peer goes away.
    dup.send(&b"\x01"[..], 0).unwrap();
    dup.send(&b"\x01"[..], 0).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(dup);
    // A consumer of one topic only.
    let billing = Sub::connect(&publish, b"billing.");
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new(LOGGEN)
        .args([
            "-e",
            &listen,
            "-n",
            "20000",
            "--prefix",
            "g",
            "--flush-ms",
            "20000",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(field(&out, "delivered"), 20_000, "{out}");
    let got = records(&real.collect(20_000, Duration::from_secs(3), Duration::from_secs(30)));
    assert_eq!(got.len(), 20_000, "the real consumer receives everything");
    assert_eq!(
        billing
            .collect(1, Duration::from_millis(300), Duration::from_secs(1))
            .len(),
        0,
        "the topic-only consumer gets nothing it did not ask for"
    );
    let m = scrape(&maddr);
    assert_books_balance(&m);
    assert_eq!(
        metric(&m, "zmq_adaptor_subscriptions"),
        2,
        "live prefixes: \"\" and \"billing.\" — stray and duplicate messages changed nothing"
    );
    // The real consumer leaves: the topic-only consumer does not keep the gate open
    // for records it will never match — they are dropped, and counted.
    drop(real);
    std::thread::sleep(Duration::from_millis(500));
    let out2 = Command::new(LOGGEN)
        .args([
            "-e",
            &listen,
            "-n",
            "300",
            "--prefix",
            "h",
            "--flush-ms",
            "10000",
        ])
        .output()
        .unwrap();
    let out2 = String::from_utf8_lossy(&out2.stdout).into_owned();
    assert_eq!(field(&out2, "delivered"), 300, "{out2}");
    let m = scrape(&maddr);
    let received = assert_books_balance(&m);
    assert_eq!(
        metric(
            &m,
            "zmq_adaptor_records_dropped_total{reason=\"no_subscriber\"}"
        ),
        300,
        "{m:?}"
    );
    assert_eq!(metric(&m, "zmq_adaptor_subscriptions"), 1);
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    let err = a.stderr();
    let fin = err.lines().find(|l| l.contains("stopped:")).unwrap_or("");
    assert_eq!(field(fin, "received"), received, "{err}");
    assert_eq!(field(fin, "undelivered"), 300, "{err}");
}

#[test]
fn metrics_add_up_at_every_scrape_and_sum_the_workers() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let maddr = free_addr();
    let mut a = adaptor_on(&listen, &publish, &["--metrics", &maddr]);
    let sub = Sub::connect(&publish, b"");
    wait_until_subscribed(&listen, &sub);
    let workers: Vec<_> = (0..2)
        .map(|i| {
            Command::new(LOGGEN)
                .args([
                    "-e",
                    &listen,
                    "-n",
                    "30000",
                    "--rate",
                    "30000",
                    "--prefix",
                    &format!("w{i}"),
                    "--flush-ms",
                    "20000",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let start = Instant::now();
    let mut scrapes = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        assert_books_balance(&scrape(&maddr));
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut accepted = 0;
    for mut w in workers {
        let mut out = String::new();
        w.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(w.wait().unwrap().success());
        accepted += field(&out, "enqueued");
        assert_eq!(field(&out, "delivered"), field(&out, "enqueued"), "{out}");
    }
    let got = sub.collect(60_001, Duration::from_secs(2), Duration::from_secs(20));
    // The workers' final reports arrive with their exit.
    std::thread::sleep(Duration::from_millis(300));
    let m = scrape(&maddr);
    let received = assert_books_balance(&m);
    assert!(scrapes > 10);
    assert_eq!(received, accepted + 1, "+1: the subscription probe");
    assert_eq!(records(&got).len() as u64, accepted);
    assert_eq!(metric(&m, "zmq_logger_records_accepted_total"), accepted);
    assert_eq!(metric(&m, "zmq_logger_workers"), 2);
    assert_eq!(
        metric(
            &m,
            "zmq_logger_records_dropped_total{reason=\"undelivered\"}"
        ),
        0
    );
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn sigterm_with_a_slow_consumer_counts_every_record() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let mut a = adaptor_on(
        &listen,
        &publish,
        &["--publish-hwm", "100", "--drain-timeout", "1"],
    );
    // An independent consumer that reads about 20,000 records/s.
    let py = Command::new("/usr/bin/python3")
        .args([
            "-c",
            r#"
import sys, time, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.RCVHWM, 1000)
s.connect(sys.argv[1]); s.setsockopt(zmq.SUBSCRIBE, b"")
n, idle = 0, time.time()
print("ready", flush=True)
while time.time() - idle < 6:
    if s.poll(100):
        s.recv_multipart(); n += 1; idle = time.time()
        if n % 20 == 0: time.sleep(0.001)
print("got", n, flush=True)
"#,
            &publish,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut py = Proc(py);
    let mut pyout = std::io::BufReader::new(py.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut pyout, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    std::thread::sleep(Duration::from_millis(500));
    let sent = 100_000u64;
    let lg = Command::new(LOGGEN)
        .args([
            "-e",
            &listen,
            "-n",
            &sent.to_string(),
            "--queue-records",
            "200000",
            "--size",
            "100",
            "--flush-ms",
            "2500",
            "--linger-ms",
            "300",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let stopped = Instant::now();
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "bounded by the drain timeout"
    );
    let lg = lg.wait_with_output().unwrap();
    let lg_err = String::from_utf8_lossy(&lg.stderr).into_owned();
    let mut rest = String::new();
    pyout.read_to_string(&mut rest).unwrap();
    let received: u64 = rest
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{rest}"));
    let err = a.stderr();
    let fin = err.lines().find(|l| l.contains("stopped:")).unwrap_or("");
    let adaptor_undelivered = field(fin, "undelivered");
    let consumer_drops = field(fin, "consumer_drops");
    let worker_undelivered = field(&lg_err, "undelivered");
    eprintln!(
        "consumer got {received}, lagging-consumer drops {consumer_drops}, adaptor undelivered {adaptor_undelivered}, worker undelivered {worker_undelivered}"
    );
    // The publish side waits for the lagging consumer instead of dropping; what the
    // drain timeout left is still the worker's, which counts it at its exit.
    assert_eq!(consumer_drops, 0, "{fin}");
    assert!(
        worker_undelivered > 0,
        "the consumer lagged past the drain: {lg_err}"
    );
    assert_eq!(
        received + adaptor_undelivered + worker_undelivered,
        sent,
        "adaptor: {fin}\nworker: {lg_err}"
    );
}

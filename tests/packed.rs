//! The packed consumer stream (`--publish-packed`): every record the adaptor
//! receives, from workers and from plain publishers, decodes from it exactly as the
//! legacy consumers receive it — with the Rust decoder and with the documented
//! Python example.

mod common;
use common::adaptor::*;
use common::*;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

/// `zmq-loggen` logging `n` records `PREFIX-…` to `listen` and waiting up to
/// `flush_ms` for their acknowledgement, with `extra` flags.
fn loggen(listen: &str, n: usize, prefix: &str, flush_ms: u32, extra: &[&str]) -> Command {
    let mut c = Command::new(LOGGEN);
    c.args(["-e", listen, "-n", &n.to_string(), "--prefix", prefix])
        .args(["--flush-ms", &flush_ms.to_string()])
        .args(extra);
    c
}

/// An adaptor listening on `listen`, publishing on `publish` and the packed stream on
/// `packed`, with `extra` flags.
fn packed_adaptor(listen: &str, publish: &str, packed: &str, extra: &[&str]) -> Adaptor {
    let mut args = vec!["--publish-packed", packed];
    args.extend_from_slice(extra);
    adaptor_on(listen, publish, &args)
}

/// Messages as lists of frames.
type Msgs = Vec<Vec<Vec<u8>>>;
/// The decoding thread and its stop flag.
type PackedSub = (
    std::thread::JoinHandle<Msgs>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
);

/// A SUB on the packed stream decoding with `zmq_adaptor::packed::decode`.
fn packed_sub(endpoint: &str) -> PackedSub {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let ep = endpoint.to_string();
    let t = std::thread::spawn(move || {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::SUB).unwrap();
        s.set_rcvhwm(0).unwrap();
        s.set_subscribe(&zmq_adaptor::packed::SIGNATURE).unwrap();
        s.connect(&ep).unwrap();
        let mut got = Vec::new();
        while !st.load(std::sync::atomic::Ordering::Acquire) {
            if s.poll(zmq::POLLIN, 20).unwrap_or(0) == 0 {
                continue;
            }
            while let Ok(m) = s.recv_multipart(zmq::DONTWAIT) {
                let (_h, recs) = zmq_adaptor::packed::decode(&m[0], &m[1]).expect("decodes");
                for (t, r) in recs {
                    got.push(if t.is_empty() { vec![r] } else { vec![t, r] });
                }
            }
        }
        got
    });
    (t, stop)
}

fn multiset(v: &Msgs) -> BTreeMap<Vec<Vec<u8>>, usize> {
    let mut m = BTreeMap::new();
    for x in v {
        *m.entry(x.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn packed_stream_carries_every_record_exactly_once() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let publish = free_tcp();
    let packed = free_tcp();
    let mut a = packed_adaptor(
        &listen,
        &publish,
        &packed,
        &["--packed-compression", "zstd"],
    );
    let legacy = Sub::connect(&publish, b"");
    let (pt, pstop) = packed_sub(&packed);
    let py = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/packed_consumer.py"
        ))
        .args([&packed, "20100"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut py = Proc(py);
    // Both packed consumers connect before the first record (the probe) flows.
    std::thread::sleep(Duration::from_millis(500));
    wait_until_subscribed(&listen, &legacy);
    // Two workers (one with a topic) and a plain single-frame publisher.
    let w1 = loggen(&listen, 10000, "a", 20000, &[]).output().unwrap();
    let w2 = loggen(&listen, 10000, "b", 20000, &["--topic", "billing.v1"])
        .output()
        .unwrap();
    assert!(w1.status.success() && w2.status.success());
    let ctx = zmq::Context::new();
    let plain = ctx.socket(zmq::PUB).unwrap();
    plain.connect(&listen).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..100 {
        plain.send(format!("plain-{i}").as_bytes(), 0).unwrap();
    }
    let want = legacy.collect(20_101, Duration::from_secs(3), Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    pstop.store(true, std::sync::atomic::Ordering::Release);
    let got = pt.join().unwrap();
    // The legacy consumer also saw the subscription probe(s); the packed one too.
    let (g, w) = (multiset(&got), multiset(&want));
    let differ: Vec<_> = w
        .iter()
        .filter(|(k, n)| g.get(*k) != Some(n))
        .chain(g.iter().filter(|(k, _)| !w.contains_key(*k)))
        .take(5)
        .collect();
    assert!(
        differ.is_empty(),
        "packed != legacy ({} vs {} distinct); first differences: {differ:?}",
        g.len(),
        w.len()
    );
    assert!(want.len() >= 20_100);
    let t = Instant::now();
    while py.0.try_wait().unwrap().is_none() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut py.0.stdout.take().unwrap(), &mut out).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("probe")).collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("a-")).count(), 10_000);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("billing.v1\tb-"))
            .count(),
        10_000
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("plain-")).count(),
        100
    );
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_packed_consumer_alone_takes_and_settles_every_record() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let packed = free_tcp();
    let mut a = packed_adaptor(
        &listen,
        &free_tcp(),
        &packed,
        &["--packed-compression", "lz4"],
    );
    let (pt, pstop) = packed_sub(&packed);
    std::thread::sleep(Duration::from_millis(500));
    let out = loggen(&listen, 5000, "k", 10000, &[]).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    // No regular consumer: the packed stream's consumer settles the records.
    assert!(out.contains("delivered=5000"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    pstop.store(true, std::sync::atomic::Ordering::Release);
    let got = pt.join().unwrap();
    assert_eq!(got.len(), 5000);
    for (i, m) in got.iter().enumerate() {
        assert!(m[0] == rec("k", i), "record {i} in order");
    }
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    assert!(a.stderr().contains(" undelivered=0 "), "{}", a.stderr());
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name in parentheses; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn records_held_before_a_packed_consumer_came_go_to_it_when_it_comes() {
    let dir = tempdir();
    let listen = ipc(dir.path(), "listen");
    let packed = free_tcp();
    let metrics = free_addr();
    let mut a = packed_adaptor(&listen, &free_tcp(), &packed, &["--metrics", &metrics]);
    // No consumer of any kind yet: a worker's records and a plain publisher's are
    // held in the adaptor's backlog.
    let early = loggen(&listen, 3000, "e", 30000, &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ctx = zmq::Context::new();
    let plain = ctx.socket(zmq::PUB).unwrap();
    plain.connect(&listen).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..10 {
        plain.send(format!("plain-{i}").as_bytes(), 0).unwrap();
    }
    let held = |m: &str| series(m, "zmq_adaptor_backlog_records").unwrap_or(-1.0);
    let t = Instant::now();
    while held(&get_metrics(&metrics)) < 3010.0 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(held(&get_metrics(&metrics)), 3010.0, "held for a consumer");
    // A packed consumer comes: it gets the held records (the worker's in order, under
    // their own seqs), then what follows; the backlog never blocks behind them.
    let (pt, pstop) = packed_sub(&packed);
    let early = early.wait_with_output().unwrap();
    let early = String::from_utf8_lossy(&early.stdout).into_owned();
    assert!(early.contains("delivered=3000"), "{early}");
    let late = loggen(&listen, 2000, "l", 10000, &[]).output().unwrap();
    let late = String::from_utf8_lossy(&late.stdout).into_owned();
    assert!(late.contains("delivered=2000"), "{late}");
    // Idle with a packed consumer and nothing held: the adaptor sleeps.
    let pid = a.proc.0.id();
    let cpu0 = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_seconds(pid) - cpu0;
    assert!(idle < 0.3, "adaptor used {idle} s of CPU in 1 s idle");
    pstop.store(true, std::sync::atomic::Ordering::Release);
    let got = records(&pt.join().unwrap());
    let want: Vec<Vec<u8>> = (0..3000)
        .map(|i| rec("e", i))
        .chain((0..10).map(|i| format!("plain-{i}").into_bytes()))
        .chain((0..2000).map(|i| rec("l", i)))
        .collect();
    let mut sorted_got = got.clone();
    sorted_got.sort();
    let mut sorted_want = want.clone();
    sorted_want.sort();
    assert_eq!(sorted_got, sorted_want, "every record once");
    let early_order: Vec<&Vec<u8>> = got.iter().filter(|r| r.starts_with(b"e")).collect();
    assert!(
        early_order.iter().zip(want.iter()).all(|(g, w)| *g == w),
        "the worker's held records in order"
    );
    let m = get_metrics(&metrics);
    assert_eq!(held(&m), 0.0, "{m}");
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    assert!(a.stderr().contains(" undelivered=0 "), "{}", a.stderr());
}

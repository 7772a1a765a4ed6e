//! The per-process logger through real processes (`zmq-loggen`, one logger per
//! process as in an nginx worker) and real SUB peers.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

fn loggen(args: &[&str]) -> Proc {
    Proc(
        Command::new(LOGGEN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// `zmq-loggen` logging `n` records "<prefix>-NNNNNNN" to `ep`, then flushing for up
/// to `flush_ms` before it prints its counters; `extra` flags are passed on.
fn loggen_n(ep: &str, prefix: &str, n: usize, flush_ms: u64, extra: &[&str]) -> Proc {
    let (n, flush) = (n.to_string(), flush_ms.to_string());
    let mut args = vec!["-e", ep, "-n", &n, "--prefix", prefix, "--flush-ms", &flush];
    args.extend_from_slice(extra);
    loggen(&args)
}

fn output(p: Proc) -> (String, String) {
    let mut p = p;
    let child = std::mem::replace(
        &mut p.0,
        Command::new("true").spawn().unwrap(), // placeholder reaped by Proc's Drop
    );
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field(out: &str, name: &str) -> u64 {
    out.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

fn assert_in_order(got: &[Vec<Vec<u8>>], prefix: &str, n: usize) {
    assert_eq!(got.len(), n, "all {n} records of {prefix} arrive");
    for (i, m) in got.iter().enumerate() {
        assert!(
            m.last().unwrap() == &rec(prefix, i),
            "{prefix} record {i} in order"
        );
    }
}

#[test]
fn records_arrive_complete_and_in_order() {
    let dir = tempdir();
    let ep = ipc(dir.path(), "l");
    let sub = Sub::bind(&ep, b"");
    let (out, err) = output(loggen_n(&ep, "a", 50000, 10000, &[]));
    assert_eq!(field(&out, "refused"), 0, "{out}{err}");
    assert_eq!(field(&out, "sent"), 50_000, "{out}{err}");
    let got = sub.collect(50_000, Duration::from_secs(3), Duration::from_secs(30));
    assert_in_order(&got, "a", 50_000);
}

#[test]
fn records_logged_before_any_peer_exists_arrive_after_it_binds() {
    let dir = tempdir();
    let ep = ipc(dir.path(), "l");
    // The logger starts, queues 3000 records with nobody listening, then waits.
    let p = loggen_n(&ep, "early", 3000, 8000, &[]);
    std::thread::sleep(Duration::from_millis(700));
    let sub = Sub::bind(&ep, b"");
    let (out, err) = output(p);
    assert_eq!(field(&out, "sent"), 3000, "{out}{err}");
    let got = sub.collect(3000, Duration::from_secs(3), Duration::from_secs(20));
    assert_in_order(&got, "early", 3000);
}

#[test]
fn queue_bound_drops_exactly_the_excess_and_delivers_the_rest() {
    let dir = tempdir();
    let ep = ipc(dir.path(), "l");
    // Nobody listens while 1500 records meet a 1000-record bound.
    let p = loggen_n(&ep, "b", 1500, 8000, &["--queue-records", "1000"]);
    std::thread::sleep(Duration::from_millis(700));
    let sub = Sub::bind(&ep, b"");
    let (out, err) = output(p);
    assert_eq!(field(&out, "refused"), 500, "{out}{err}");
    assert_eq!(field(&out, "dropped_queue_full"), 500, "{out}{err}");
    assert_eq!(field(&out, "sent"), 1000, "{out}{err}");
    let got = sub.collect(1000, Duration::from_secs(3), Duration::from_secs(20));
    // The first 1000 were kept, in order.
    assert_in_order(&got, "b", 1000);
}

#[test]
fn tiny_send_hwm_still_delivers_everything_in_order() {
    let dir = tempdir();
    let ep = ipc(dir.path(), "l");
    let sub = Sub::bind(&ep, b"");
    let (out, err) = output(loggen_n(&ep, "h", 20000, 20000, &["--send-hwm", "1"]));
    assert_eq!(field(&out, "sent"), 20_000, "{out}{err}");
    assert_eq!(field(&out, "delivered"), 20_000, "{out}{err}");
    assert_eq!(
        field(&out, "dropped_queue_full"),
        0,
        "within the queue bound"
    );
    let got = sub.collect(20_000, Duration::from_secs(3), Duration::from_secs(30));
    assert_in_order(&got, "h", 20_000);
}

#[test]
fn topic_frames_filter_by_prefix() {
    let dir = tempdir();
    let ep_b = ipc(dir.path(), "billing");
    let ep_t = ipc(dir.path(), "tracking");
    let billing = Sub::bind(&ep_b, b"billing");
    let other = Sub::bind(&ep_t, b"tracking");
    // Two publishers (two processes) on the same SUB would interleave; one each here.
    let (o1, e1) = output(loggen_n(&ep_b, "p", 100, 5000, &["--topic", "billing.v1"]));
    let (o2, e2) = output(loggen_n(&ep_t, "p", 100, 5000, &["--topic", "billing.v1"]));
    assert_eq!(field(&o1, "sent"), 100, "{o1}{e1}");
    assert_eq!(field(&o2, "sent"), 100, "{o2}{e2}");
    let got = billing.collect(100, Duration::from_secs(2), Duration::from_secs(10));
    assert_eq!(got.len(), 100);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.len(), 2, "two frames");
        assert_eq!(m[0], b"billing.v1");
        assert!(m[1] == rec("p", i));
    }
    // A subscriber to another prefix receives none of them.
    assert_eq!(
        other
            .collect(1, Duration::from_millis(500), Duration::from_secs(2))
            .len(),
        0
    );
}

#[test]
fn exit_linger_is_bounded_when_the_adaptor_never_comes() {
    let dir = tempdir();
    let ep = ipc(dir.path(), "nobody-here");
    let start = std::time::Instant::now();
    let (out, err) = output(loggen(&["-e", &ep, "-n", "10", "--linger-ms", "300"]));
    let took = start.elapsed();
    assert_eq!(field(&out, "enqueued"), 10);
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(
        err.contains("undelivered=10") && err.contains("zmq_logger"),
        "the loss is reported exactly: {err}"
    );
}

#[test]
fn bad_endpoint_is_a_clear_error() {
    let (out, err) = output(loggen(&["-e", "tcp://no-port", "-n", "1"]));
    assert!(out.is_empty());
    assert!(err.contains("bad endpoint"), "{err}");
}

#[test]
fn libzmq_has_curve() {
    assert!(
        zmq_adaptor::zmq_has("curve"),
        "system libzmq built with libsodium"
    );
}

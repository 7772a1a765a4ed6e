//! Forwarding-proxy benchmark: the adaptor (`zmq-adaptor` binary) against a plain C
//! program calling libzmq's `zmq_proxy(xsub, xpub)` (benches/c/zmq_proxy_baseline.c,
//! compiled at bench time), same high-water marks, alternated in one run.
//!
//! Each run: proxy process; a consumer process (SUB connected to the publish endpoint
//! over tcp://127.0.0.1) counting messages; a publisher process (XPUB with
//! XPUB_NODROP and blocking sends, connected to the listen endpoint over ipc) that
//! waits for the subscription, exchanges warm-up messages until the consumer has one,
//! then sends N 200-byte messages. CPU of the proxy process is read from its
//! kernel CPU clock (falling back to /proc/<pid>/stat) just before the first message
//! and when the consumer has the last one. Child roles are this binary re-executed
//! with `--publisher` / `--consumer`.
//!
//! Run with `cargo bench --bench proxy`. Knobs (environment): `ZMQ_ADAPTOR_BIN`
//! (adaptor binary; default: the one cargo built for this bench), `PROXY_BENCH_N`
//! (messages per run, default 1,000,000), `PROXY_BENCH_RUNS` (pairs of runs, default 5),
//! `CC` (C compiler, default `cc`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// High-water mark of both proxies, each side (the adaptor's default).
const PROXY_HWM: i32 = 1_000_000;
/// Send high-water mark of the publisher process.
const PUBLISHER_HWM: i32 = 100_000;
/// Message size in bytes.
const SIZE: usize = 200;

fn main() {
    // `cargo bench` passes `--bench`: look for our role markers anywhere.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--publisher") {
        publisher(&args[i + 1..]);
    } else if let Some(i) = args.iter().position(|a| a == "--consumer") {
        consumer(&args[i + 1..]);
    } else {
        parent();
    }
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------
// Publisher and consumer (child processes)
// ---------------------------------------------------------------------------------

/// `--publisher LISTEN N READY_FILE PROXY_PID`
fn publisher(a: &[String]) {
    let (endpoint, n, ready, proxy_pid) = (
        &a[0],
        a[1].parse::<u64>().expect("N"),
        PathBuf::from(&a[2]),
        a[3].parse::<i32>().expect("pid"),
    );
    let ctx = zmq::Context::new();
    let mut s = ctx.socket(zmq::XPUB).expect("XPUB");
    s.set_sndhwm(PUBLISHER_HWM).expect("hwm");
    s.set_linger(5000).expect("linger");
    set_xpub_nodrop(&mut s);
    s.connect(endpoint).expect("connect");
    // 1. The proxy's subscription (bounded wait).
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut subscribed = false;
    while !subscribed && Instant::now() < deadline {
        if s.poll(zmq::POLLIN, 100).unwrap_or(0) > 0 {
            if let Ok(len) = s.recv_into(&mut buf, 0) {
                subscribed = len >= 1 && buf[0] == 1;
            }
        }
    }
    assert!(subscribed, "publisher: no subscription from the proxy");
    // 2. Warm-up: 1-byte messages until the consumer has one (so it is connected and
    //    subscribed end to end).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() && Instant::now() < deadline {
        s.send(&b"w"[..], zmq::DONTWAIT).ok();
        // Keep reading subscription traffic so the socket stays serviced.
        while s.recv_into(&mut buf, zmq::DONTWAIT).is_ok() {}
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        ready.exists(),
        "publisher: consumer never got a warm-up message"
    );
    std::thread::sleep(Duration::from_millis(50));
    // 3. The measured stream.
    let msg = [b'm'; SIZE];
    let cpu0 = process_cpu_us(proxy_pid);
    let t0 = mono_ns();
    let mut errors = 0u64;
    for _ in 0..n {
        errors += s.send(std::hint::black_box(&msg[..]), 0).is_err() as u64;
    }
    let t_sent = mono_ns();
    emit(
        "publisher",
        &[
            ("t0_ns", t0.to_string()),
            ("send_ns", (t_sent - t0).to_string()),
            ("proxy_cpu0_us", format!("{cpu0:.0}")),
            ("errors", errors.to_string()),
        ],
    );
}

/// `--consumer PUBLISH N READY_FILE PROXY_PID`
fn consumer(a: &[String]) {
    let (endpoint, n, ready, proxy_pid) = (
        &a[0],
        a[1].parse::<u64>().expect("N"),
        PathBuf::from(&a[2]),
        a[3].parse::<i32>().expect("pid"),
    );
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::SUB).expect("SUB");
    s.set_rcvhwm(PROXY_HWM).expect("hwm");
    s.set_linger(0).expect("linger");
    s.set_subscribe(b"").expect("subscribe");
    s.connect(endpoint).expect("connect");
    let mut buf = vec![0u8; 4096];
    let (mut count, mut first_ns, mut last_ns, mut warm) = (0u64, 0u64, 0u64, 0u64);
    let mut cpu1 = f64::NAN;
    let started = Instant::now();
    let mut last = Instant::now();
    while count < n {
        let idle_limit = if count == 0 {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(5)
        };
        if last.elapsed() > idle_limit || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        match s.recv_into(&mut buf, zmq::DONTWAIT) {
            Ok(len) if len == SIZE => {
                let now = mono_ns();
                if count == 0 {
                    first_ns = now;
                }
                last_ns = now;
                count += 1;
                if count == n {
                    cpu1 = process_cpu_us(proxy_pid);
                }
                last = Instant::now();
            }
            Ok(_) => {
                if warm == 0 {
                    let _ = std::fs::write(&ready, b"ready");
                }
                warm += 1;
                last = Instant::now();
            }
            Err(zmq::Error::EAGAIN) => {
                let _ = s.poll(zmq::POLLIN, 10);
            }
            Err(e) => panic!("consumer recv: {e}"),
        }
    }
    if cpu1.is_nan() {
        cpu1 = process_cpu_us(proxy_pid);
    }
    emit(
        "consumer",
        &[
            ("count", count.to_string()),
            ("first_ns", first_ns.to_string()),
            ("last_ns", last_ns.to_string()),
            ("proxy_cpu1_us", format!("{cpu1:.0}")),
            ("warmup", warm.to_string()),
        ],
    );
}

// ---------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------

/// Waits for a child (bounded; killed by its pid on timeout); parses its RESULT line.
fn finish(c: Child, timeout: Duration) -> Kv {
    wait_results(c, timeout)
        .iter()
        .flat_map(|l| l.split_whitespace().skip(1))
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct RunResult {
    rate: f64,
    cpu_per_msg: f64,
    loss: f64,
}

fn one_run(
    kind: &str,
    proxy_cmd: &mut Command,
    dir: &Path,
    tag: &str,
    n: u64,
) -> Option<RunResult> {
    let listen_path = dir.join(format!("{tag}.ipc"));
    let listen = format!("ipc://{}", listen_path.display());
    let publish = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let ready = dir.join(format!("{tag}.ready"));
    let proxy = proxy_cmd
        .args(if kind.starts_with("zmq-adaptor") {
            vec![
                "-b".to_string(),
                listen.clone(),
                "-p".into(),
                publish.clone(),
                "--stats-interval".into(),
                "0".into(),
                "--listen-hwm".into(),
                PROXY_HWM.to_string(),
                "--publish-hwm".into(),
                PROXY_HWM.to_string(),
                // Only to silence the start-up access check for nginx workers.
                "--ipc-mode".into(),
                "0666".into(),
            ]
        } else {
            vec![listen.clone(), publish.clone(), PROXY_HWM.to_string()]
        })
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn proxy");
    let pid = proxy.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !listen_path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let cons = spawn_self(&[
        "--consumer".into(),
        publish,
        n.to_string(),
        ready.display().to_string(),
        pid.clone(),
    ]);
    let publ = spawn_self(&[
        "--publisher".into(),
        listen,
        n.to_string(),
        ready.display().to_string(),
        pid,
    ]);
    let p = finish(publ, Duration::from_secs(120));
    let c = finish(cons, Duration::from_secs(60));
    stop_child(proxy);
    let received = num(&c, "count");
    let span_s = (num(&c, "last_ns") - num(&p, "t0_ns")) / 1e9;
    let cpu = num(&c, "proxy_cpu1_us") - num(&p, "proxy_cpu0_us");
    let r = RunResult {
        rate: received / span_s,
        cpu_per_msg: cpu / n as f64,
        loss: n as f64 - received,
    };
    if r.rate.is_nan() {
        eprintln!("{kind} run {tag} failed: publisher {p:?} consumer {c:?}");
        return None;
    }
    Some(r)
}

fn parent() {
    let n = env_u64("PROXY_BENCH_N", 1_000_000);
    let runs = env_u64("PROXY_BENCH_RUNS", 5).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = build_baseline(dir.path());
    let ours = adaptor_bin();
    println!(
        "zmq_adaptor proxy benchmark ({} cores): {n} x {SIZE}-byte messages per run",
        std::thread::available_parallelism().map_or(1, |c| c.get())
    );
    println!("publisher (XPUB, NODROP, blocking send) -ipc-> proxy -tcp 127.0.0.1-> SUB consumer");
    println!("both proxies: XSUB RCVHWM = XPUB SNDHWM = {PROXY_HWM}; runs alternate");
    println!("adaptor: {ours}");
    println!();
    println!(
        "    {:<22} {:>3} {:>12} {:>16} {:>6}",
        "proxy", "run", "msgs/s", "proxy CPU µs/msg", "loss"
    );
    let mut kinds = vec![
        ("zmq-adaptor", PathBuf::from(&ours)),
        ("C zmq_proxy baseline", baseline),
    ];
    // A second adaptor build (before/after comparisons), alternated with the others.
    if let Ok(b) = std::env::var("ZMQ_ADAPTOR_BIN_B") {
        println!("adaptor B: {b}");
        kinds.push(("zmq-adaptor B", PathBuf::from(b)));
    }
    let mut acc: Vec<(Vec<f64>, Vec<f64>, f64)> = vec![Default::default(); kinds.len()];
    for r in 0..runs {
        for (i, (kind, bin)) in kinds.iter().enumerate() {
            let mut cmd = Command::new(bin);
            let tag = format!("k{i}-{r}");
            match one_run(kind, &mut cmd, dir.path(), &tag, n) {
                Some(res) => {
                    println!(
                        "    {:<22} {:>3} {:>12.0} {:>16.3} {:>6.0}",
                        kind,
                        r + 1,
                        res.rate,
                        res.cpu_per_msg,
                        res.loss
                    );
                    acc[i].0.push(res.rate);
                    acc[i].1.push(res.cpu_per_msg);
                    acc[i].2 = acc[i].2.max(res.loss);
                }
                None => println!("    {:<22} {:>3} failed", kind, r + 1),
            }
        }
    }
    println!();
    let mut meds = Vec::new();
    for (i, (kind, _)) in kinds.iter().enumerate() {
        let (rates, cpus, loss) = &mut acc[i];
        let (rr, cr) = (range(rates, 0), range(cpus, 3));
        let m = (median(rates), median(cpus));
        println!(
            "    median {:<22} {:>12.0} msgs/s ({rr}) {:>8.3} CPU µs/msg ({cr}), max loss {:.0}",
            kind, m.0, m.1, loss
        );
        meds.push(m);
    }
    println!(
        "    zmq-adaptor / baseline: {:.2}x throughput (target >= 0.95x), {:.2}x CPU per message",
        meds[0].0 / meds[1].0,
        meds[0].1 / meds[1].1
    );
    if meds.len() > 2 {
        println!(
            "    zmq-adaptor B / baseline: {:.2}x throughput, {:.2}x CPU per message",
            meds[2].0 / meds[1].0,
            meds[2].1 / meds[1].1
        );
    }
}

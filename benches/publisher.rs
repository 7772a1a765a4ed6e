//! Publisher-side benchmark of the core library and the pipeline behind it: cost of
//! `log()` on the request path, peak throughput through an adaptor to a SUB, CPU per
//! record at a steady paced rate next to a plain libzmq PUB doing one `zmq_send` per
//! record, and the issue-10 pipeline (library -> `zmq-adaptor` -> SUB against
//! PUB -> C `zmq_proxy` -> SUB): CPU per record of producer + proxy, delivery latency.
//!
//! There is one logger per process, so every scenario runs in its own child process
//! (this binary re-executed with `--scenario ...`). The library's records reach a
//! consumer only through an adaptor (the internal hop carries batches), so the peer
//! child (`--sub-child`) runs an in-process adaptor plus a SUB; the pipeline section
//! starts the real `zmq-adaptor` binary (or the C baseline) and a consumer child
//! (`--consumer`). The parent only orchestrates and prints the tables.
//!
//! Run with `cargo bench --bench publisher`. Knobs (environment):
//! `PUB_BENCH_THROUGHPUT_N` (records per throughput run, default 500,000),
//! `PUB_BENCH_RUNS` (repetitions of throughput and paced runs, default 3),
//! `PUB_BENCH_PACED_SECS` (default 3), `PUB_BENCH_RATE` (default 50,000/s),
//! `PUB_BENCH_TICK_US` (pacing tick, default 20 µs = one record per tick at 50k/s),
//! `PUB_BENCH_INTERVALS` (batch intervals in ms of the paced library runs, default "10"),
//! `PIPE_RATE`/`PIPE_SECS` (pipeline, default 50,000/s for 10 s), `PIPE_NONE_SECS`
//! (pacing-alone runs, default 3 s), `PIPE_LAT_RATE`/`PIPE_LAT_SECS` (latency runs,
//! default 5,000/s for 3 s), `PIPE_RUNS` (default 3), `PIPE_DUMP` (file prefix: each
//! consumer writes its latencies, µs, in arrival order), `ZMQ_ADAPTOR_BIN`,
//! `PUB_BENCH_ONLY` (comma list of sections: push, throughput, paced, pipeline, latency).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};
use zmq_adaptor::accounting::Accounting;
use zmq_adaptor::Config;

mod common;
use common::*;

/// Calls timed together in the push-cost scenario.
const BATCH: usize = 1000;

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter): ignore what we do not know.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--sub-child") {
        sub_child(&args[i + 1..]);
    } else if let Some(i) = args.iter().position(|a| a == "--consumer") {
        consumer(&args[i + 1..]);
    } else if let Some(i) = args.iter().position(|a| a == "--scenario") {
        scenario(&args[i + 1..]);
    } else {
        parent();
    }
}

// ---------------------------------------------------------------------------------
// Measurement helpers
// ---------------------------------------------------------------------------------

/// User + system CPU time of this whole process (all threads), in µs, via getrusage.
fn rusage_self_us() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Minor page faults of this whole process so far.
fn minflt_self() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_minflt as u64
}

/// CPU time of one thread of this process, in µs (kernel per-thread CPU clock, ns precision).
fn thread_cpu_us(tid: i32) -> Option<f64> {
    // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) from the kernel's posix-timers.h.
    let clock = ((!(tid as libc::clockid_t)) << 3) | 6;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id only yields an error.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3)
}

/// CPU µs per thread name ("main" for the leader) of this process.
fn threads_cpu_us() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let me = std::process::id() as i32;
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let name = if tid == me {
                "main".to_string()
            } else {
                std::fs::read_to_string(e.path().join("comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            if let Some(c) = thread_cpu_us(tid) {
                *out.entry(name).or_insert(0.0) += c;
            }
        }
    }
    out
}

/// Restricts the calling thread (and threads it creates later) to one CPU.
fn pin_current_thread(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the number of CPUs, so within the set's bounds.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of that size.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// Sets this thread's timer slack (ns), so short sleeps pace precisely.
fn set_timer_slack(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
}

fn wait_for_file(p: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    p.exists()
}

/// Waits until the logger saw its peer's subscription (bounded).
fn wait_subscribed(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if zmq_adaptor::stats().peer_subscribed == 1 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

// ---------------------------------------------------------------------------------
// The SUB peer (child process)
// ---------------------------------------------------------------------------------

/// `--sub-child KIND[+pin] ENDPOINT N READY_FILE DONE_FILE`: the peer. KIND `adaptor`: an
/// in-process adaptor (`zmq_adaptor::proxy::Proxy`, listening on ENDPOINT, publishing
/// on tcp://127.0.0.1:*) and a SUB connected to its publish side — the library's
/// records reach a consumer only through an adaptor. KIND `direct`: a SUB bound on
/// ENDPOINT (for a plain libzmq sender). Counts messages until N arrived or the stream
/// went idle, then reports, with the CPU this peer process spent meanwhile.
fn sub_child(a: &[String]) {
    let (kind, endpoint, n, ready, done) = (
        a[0].as_str(),
        &a[1],
        a[2].parse::<u64>().expect("N"),
        PathBuf::from(&a[3]),
        PathBuf::from(&a[4]),
    );
    // `+pin`: this peer (adaptor threads included) stays on the last CPU, away from
    // the timed thread of the push-cost section.
    let (kind, pin) = match kind.strip_suffix("+pin") {
        Some(k) => (k, true),
        None => (kind, false),
    };
    if pin {
        pin_current_thread(num_cpus().saturating_sub(1));
    }
    let proxy = match kind {
        "adaptor" => {
            let cfg = zmq_adaptor::proxy::ProxyConfig {
                listen: endpoint.clone(),
                publish: "tcp://127.0.0.1:*".into(),
                ..Default::default()
            };
            Some(zmq_adaptor::proxy::Proxy::start(&cfg, None, None).expect("adaptor starts"))
        }
        "direct" => None,
        other => panic!("peer kind {other}"),
    };
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::SUB).expect("SUB");
    s.set_rcvhwm(100_000).expect("rcvhwm");
    s.set_linger(0).expect("linger");
    s.set_subscribe(b"").expect("subscribe");
    match &proxy {
        Some(p) => {
            s.connect(p.endpoints().1).expect("connect");
            // The adaptor holds records until a consumer's subscription reached it.
            let t = Instant::now();
            while p.subscriptions() == 0 && t.elapsed() < Duration::from_secs(10) {
                let _ = s.poll(zmq::POLLIN, 2);
            }
        }
        None => s.bind(endpoint).expect("bind"),
    }
    std::fs::write(&ready, b"ready").expect("ready file");
    let cpu0 = rusage_self_us();
    let mut buf = vec![0u8; 1 << 16];
    let (mut count, mut bytes, mut first_ns, mut last_ns) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut last = Instant::now();
    while count < n {
        // Idle limits: 30 s for the first message, 3 s between later ones.
        let idle_limit = if count == 0 {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(3)
        };
        if last.elapsed() > idle_limit || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        match s.recv_into(&mut buf, zmq::DONTWAIT) {
            Ok(len) => {
                let now = mono_ns();
                if count == 0 {
                    first_ns = now;
                }
                last_ns = now;
                count += 1;
                bytes += len as u64;
                last = Instant::now();
            }
            Err(zmq::Error::EAGAIN) => {
                let _ = s.poll(zmq::POLLIN, 10);
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    let _ = std::fs::write(&done, b"done");
    let cpu1 = rusage_self_us();
    let (fwd, cdrops) = proxy.as_ref().map_or((0, 0), |p| {
        let a = p.accounting();
        (a.snapshot().forwarded, Accounting::get(&a.consumer_drops))
    });
    emit(
        "sub",
        &[
            ("count", count.to_string()),
            ("bytes", bytes.to_string()),
            ("first_ns", first_ns.to_string()),
            ("last_ns", last_ns.to_string()),
            ("peer_cpu_us", format!("{:.0}", cpu1 - cpu0)),
            ("forwarded", fwd.to_string()),
            ("consumer_drops", cdrops.to_string()),
        ],
    );
    // A graceful stop: the final acknowledgements reach the logger before it exits.
    if let Some(p) = proxy {
        p.stop();
    }
}

// ---------------------------------------------------------------------------------
// Logging scenarios (child processes)
// ---------------------------------------------------------------------------------

fn scenario(a: &[String]) {
    match a[0].as_str() {
        "push" => scen_push(&a[1], &a[2], a[3].parse().expect("batches")),
        "throughput" => scen_throughput(
            &a[1],
            a[2].parse().expect("n"),
            a[3].parse().expect("size"),
            Path::new(&a[4]),
        ),
        "paced" => scen_paced(
            &a[1],
            &a[2],
            a[3].parse().expect("rate"),
            a[4].parse().expect("secs"),
            a[5].parse().expect("size"),
            a[6].parse().expect("tick"),
            Path::new(&a[7]),
        ),
        "rawpub" => scen_rawpub(
            &a[1],
            a[2].parse().expect("n"),
            a[3].parse().expect("size"),
            Path::new(&a[4]),
        ),
        "pipeline" => scen_pipeline(
            &a[1],
            &a[2],
            a[3].parse().expect("rate"),
            a[4].parse().expect("secs"),
            a[5].parse().expect("proxy pid"),
            Path::new(&a[6]),
            Path::new(&a[7]),
        ),
        other => panic!("unknown scenario {other}"),
    }
}

/// `push ENDPOINT SIZES BATCHES`: ns per `log()` call, timed over batches of 1000 calls,
/// drainer running and the peer consuming. Between batches the queue is left to drain
/// (untimed), so it never fills.
fn scen_push(endpoint: &str, sizes: &str, batches: usize) {
    zmq_adaptor::configure(Config {
        endpoint: endpoint.to_string(),
        ..Config::default()
    })
    .expect("configure");
    zmq_adaptor::log(b"hello").expect("first log");
    assert!(wait_subscribed(Duration::from_secs(10)), "no subscription");
    // The drainer (spawned by the first log, with every CPU allowed) stays free to
    // run anywhere; the timed thread stays on CPU 0 so that migrations do not land
    // in the samples. The SUB peer pins itself to the last CPU.
    pin_current_thread(0);
    // Between samples: everything handed to libzmq, then 1 ms for libzmq's I/O thread
    // to write it out, so a sample times the request path while the drainer sleeps —
    // as it does most of the time at gateway rates (it wakes every 10 ms).
    let wait_drained = || {
        let _ = zmq_adaptor::flush(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(1));
    };
    for size in sizes.split(',').map(|s| s.parse::<usize>().expect("size")) {
        let rec = vec![b'x'; size];
        let mut errors = 0u64;
        let mut samples = Vec::with_capacity(batches);
        // Untimed warm-up: fault in the allocator's arenas and the ring.
        for _ in 0..batches / 10 + 10 {
            wait_drained();
            for _ in 0..BATCH {
                errors += zmq_adaptor::log(std::hint::black_box(&rec)).is_err() as u64;
            }
        }
        for _ in 0..batches {
            wait_drained();
            let t = Instant::now();
            for _ in 0..BATCH {
                errors += zmq_adaptor::log(std::hint::black_box(&rec)).is_err() as u64;
            }
            samples.push(t.elapsed().as_nanos() as f64 / BATCH as f64);
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        emit(
            "push",
            &[
                ("size", size.to_string()),
                ("median", format!("{:.1}", percentile(&samples, 0.5))),
                ("p90", format!("{:.1}", percentile(&samples, 0.9))),
                ("p99", format!("{:.1}", percentile(&samples, 0.99))),
                ("mean", format!("{mean:.1}")),
                ("errors", errors.to_string()),
            ],
        );
    }
    let _ = zmq_adaptor::flush(Duration::from_secs(10));
    let s = zmq_adaptor::stats();
    emit(
        "pushtotal",
        &[
            ("enqueued", s.enqueued.to_string()),
            ("sent", s.sent.to_string()),
        ],
    );
}

/// `throughput ENDPOINT N SIZE DONE_FILE`: logs N records as fast as one thread can,
/// waits for the peer to report all received, and reports CPU of this process.
fn scen_throughput(endpoint: &str, n: u64, size: usize, done: &Path) {
    zmq_adaptor::configure(Config {
        endpoint: endpoint.to_string(),
        queue_records: 1 << 20,
        queue_bytes: (1 << 20) * (size + 64),
        ..Config::default()
    })
    .expect("configure");
    // The first record starts the logger; it is part of N.
    let rec = vec![b'y'; size];
    zmq_adaptor::log(&rec).expect("first log");
    assert!(wait_subscribed(Duration::from_secs(10)), "no subscription");
    let _ = zmq_adaptor::flush(Duration::from_secs(5));
    let threads0 = threads_cpu_us();
    let flt0 = minflt_self();
    let cpu0 = rusage_self_us();
    let t0 = mono_ns();
    let mut errors = 0u64;
    for _ in 1..n {
        errors += zmq_adaptor::log(std::hint::black_box(&rec)).is_err() as u64;
    }
    let t_logged = mono_ns();
    let flushed = zmq_adaptor::flush(Duration::from_secs(30)).is_ok();
    let t_flushed = mono_ns();
    let peer_done = wait_for_file(done, Duration::from_secs(30));
    let cpu1 = rusage_self_us();
    let flt1 = minflt_self();
    let threads1 = threads_cpu_us();
    let s = zmq_adaptor::stats();
    let mut kv = vec![
        ("minflt", (flt1 - flt0).to_string()),
        ("t0_ns", t0.to_string()),
        ("log_ns", (t_logged - t0).to_string()),
        ("flush_ns", (t_flushed - t0).to_string()),
        ("cpu_us", format!("{:.0}", cpu1 - cpu0)),
        ("errors", errors.to_string()),
        ("flushed", flushed.to_string()),
        ("peer_done", peer_done.to_string()),
        ("enqueued", s.enqueued.to_string()),
        ("sent", s.sent.to_string()),
        (
            "dropped",
            (s.dropped_queue_full + s.dropped_too_large).to_string(),
        ),
        ("retries", s.send_retries.to_string()),
    ];
    let th = thread_delta(&threads0, &threads1);
    kv.extend(th.iter().map(|(k, v)| (k.as_str(), format!("{v:.0}"))));
    emit("throughput", &kv);
}

/// `rawpub ENDPOINT N SIZE DONE_FILE`: the libzmq ceiling for (2) on this machine: one
/// thread sending N records straight into an XPUB (NODROP, blocking send, same HWM as
/// the logger), no queue and no drainer thread.
fn scen_rawpub(endpoint: &str, n: u64, size: usize, done: &Path) {
    let rec = vec![b'r'; size];
    let ctx = zmq::Context::new();
    let mut s = ctx.socket(zmq::XPUB).expect("XPUB");
    s.set_sndhwm(Config::default().send_hwm).expect("hwm");
    set_xpub_nodrop(&mut s);
    s.connect(endpoint).expect("connect");
    let mut sub = [0u8; 64];
    assert!(
        s.poll(zmq::POLLIN, 10_000).unwrap_or(0) > 0 && s.recv_into(&mut sub, 0).is_ok(),
        "no subscription"
    );
    s.send(&rec[..], 0).expect("send");
    let threads0 = threads_cpu_us();
    let flt0 = minflt_self();
    let cpu0 = rusage_self_us();
    let t0 = mono_ns();
    let mut errors = 0u64;
    for _ in 1..n {
        errors += s.send(std::hint::black_box(&rec[..]), 0).is_err() as u64;
    }
    let t_logged = mono_ns();
    let peer_done = wait_for_file(done, Duration::from_secs(30));
    let cpu1 = rusage_self_us();
    let flt1 = minflt_self();
    let threads1 = threads_cpu_us();
    let mut kv = vec![
        ("minflt", (flt1 - flt0).to_string()),
        ("t0_ns", t0.to_string()),
        ("log_ns", (t_logged - t0).to_string()),
        ("cpu_us", format!("{:.0}", cpu1 - cpu0)),
        ("errors", errors.to_string()),
        ("peer_done", peer_done.to_string()),
        ("retries", "-".to_string()),
    ];
    let th = thread_delta(&threads0, &threads1);
    kv.extend(th.iter().map(|(k, v)| (k.as_str(), format!("{v:.0}"))));
    emit("throughput", &kv);
}

/// Per-thread CPU deltas, keyed `thr_<name>` (names sanitised for the result line).
fn thread_delta(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = b
        .iter()
        .map(|(k, v1)| {
            let key = format!(
                "thr_{}",
                k.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            (key, v1 - a.get(k).copied().unwrap_or(0.0))
        })
        .collect();
    v.sort_by(|x, y| x.0.cmp(&y.0));
    v
}

/// `paced MODE ENDPOINT RATE SECS SIZE TICK_US DONE_FILE`: RATE records/s for SECS,
/// spread evenly (a due-count schedule checked every TICK_US), with MODE:
/// `logger` (this library), `naive` (a PUB socket, one zmq_send per record on the
/// calling thread), `none` (the pacing loop alone, to subtract).
fn scen_paced(
    mode: &str,
    endpoint: &str,
    rate: u64,
    secs: u64,
    size: usize,
    tick_us: u64,
    done: &Path,
) {
    let rec = vec![b'z'; size];
    let total = rate * secs;
    let mut naive: Option<(zmq::Context, zmq::Socket)> = None;
    let (mode, interval_ms) = match mode.split_once('@') {
        Some((m, i)) => (m, i.parse::<u64>().expect("interval")),
        None => (mode, 1),
    };
    match mode {
        "logger" => {
            zmq_adaptor::configure(Config {
                endpoint: endpoint.to_string(),
                batch_interval: Duration::from_millis(interval_ms),
                ..Config::default()
            })
            .expect("configure");
            zmq_adaptor::log(&rec).expect("first log");
            assert!(wait_subscribed(Duration::from_secs(10)), "no subscription");
            let _ = zmq_adaptor::flush(Duration::from_secs(5));
        }
        "naive" => {
            let ctx = zmq::Context::new();
            let s = ctx.socket(zmq::PUB).expect("PUB");
            s.set_sndhwm(100_000).expect("hwm");
            s.connect(endpoint).expect("connect");
            // A PUB cannot see the subscription: give it time to arrive, then one
            // record (part of the total) makes the socket attach it.
            std::thread::sleep(Duration::from_millis(500));
            s.send(&rec[..], 0).expect("send");
            std::thread::sleep(Duration::from_millis(100));
            naive = Some((ctx, s));
        }
        "none" => {}
        other => panic!("mode {other}"),
    }
    // Precise short sleeps for this (pacing) thread only.
    set_timer_slack(1000);
    let threads0 = threads_cpu_us();
    let cpu0 = rusage_self_us();
    let t0 = Instant::now();
    let first = if mode == "none" { 0 } else { 1 };
    let mut done_n: u64 = first;
    let mut errors = 0u64;
    let tick = Duration::from_micros(tick_us);
    while done_n < total {
        let due =
            ((t0.elapsed().as_nanos() as u64).saturating_mul(rate) / 1_000_000_000 + 1).min(total);
        while done_n < due {
            match (mode, &naive) {
                ("logger", _) => {
                    errors += zmq_adaptor::log(std::hint::black_box(&rec)).is_err() as u64
                }
                (_, Some((_, s))) => errors += s.send(&rec[..], 0).is_err() as u64,
                _ => {
                    std::hint::black_box(&rec);
                }
            }
            done_n += 1;
        }
        std::thread::sleep(tick);
    }
    let elapsed = t0.elapsed();
    if mode == "logger" {
        let _ = zmq_adaptor::flush(Duration::from_secs(10));
    }
    let peer_done = mode == "none" || wait_for_file(done, Duration::from_secs(10));
    let cpu1 = rusage_self_us();
    let threads1 = threads_cpu_us();
    let mut kv = vec![
        ("mode", mode.to_string()),
        ("records", (total - first).to_string()),
        ("total", total.to_string()),
        ("elapsed_ms", elapsed.as_millis().to_string()),
        ("cpu_us", format!("{:.0}", cpu1 - cpu0)),
        ("errors", errors.to_string()),
        ("peer_done", peer_done.to_string()),
    ];
    let th = thread_delta(&threads0, &threads1);
    kv.extend(th.iter().map(|(k, v)| (k.as_str(), format!("{v:.0}"))));
    emit("paced", &kv);
}

/// Writes `t` as 20 zero-padded decimal digits at the start of `rec`.
fn put_stamp(rec: &mut [u8], mut t: u64) {
    for b in rec[..STAMP].iter_mut().rev() {
        *b = b'0' + (t % 10) as u8;
        t /= 10;
    }
}

/// The timestamp written by [`put_stamp`]; None when the bytes are not digits.
fn get_stamp(rec: &[u8]) -> Option<u64> {
    rec.get(..STAMP)?.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as u64)
    })
}

/// Bytes of the send timestamp at the start of each pipeline record.
const STAMP: usize = 20;
/// Size of a pipeline record.
const PIPE_SIZE: usize = 200;

/// `--consumer PUBLISH N READY_FILE DONE_FILE`: a legacy single-frame consumer (SUB
/// connected to a proxy's publish side). Any message that is not a 200-byte record is
/// a warm-up: the first one creates READY_FILE. For each record, delivery latency =
/// now − the timestamp in the record (CLOCK_MONOTONIC, same machine). DONE_FILE when N
/// records arrived.
fn consumer(a: &[String]) {
    let (endpoint, n, ready, done) = (
        &a[0],
        a[1].parse::<u64>().expect("N"),
        PathBuf::from(&a[2]),
        PathBuf::from(&a[3]),
    );
    // `packed`: a consumer of the packed stream (`--publish-packed`), one batch per
    // message, decoded with `zmq_adaptor::packed::decode`.
    let packed = a.get(4).map(String::as_str) == Some("packed");
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::SUB).expect("SUB");
    s.set_rcvhwm(1_000_000).expect("rcvhwm");
    s.set_linger(0).expect("linger");
    s.set_subscribe(if packed {
        &zmq_adaptor::packed::SIGNATURE[..]
    } else {
        b""
    })
    .expect("subscribe");
    s.connect(endpoint).expect("connect");
    let mut buf = vec![0u8; 4096];
    let mut lat: Vec<f64> = Vec::with_capacity(n as usize);
    let (mut count, mut warm, mut bad) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut last = Instant::now();
    let mut bad_msgs = 0u64;
    let mut on_record = |rec: &[u8], now: u64, count: &mut u64| {
        if rec.len() == PIPE_SIZE {
            match get_stamp(rec) {
                Some(t) => lat.push(now.saturating_sub(t) as f64 / 1e3),
                None => bad += 1,
            }
            *count += 1;
            if *count == n {
                let _ = std::fs::write(&done, b"done");
            }
        } else {
            if warm == 0 {
                let _ = std::fs::write(&ready, b"ready");
            }
            warm += 1;
        }
    };
    while count < n {
        let idle = if count == 0 { 40 } else { 3 };
        if last.elapsed() > Duration::from_secs(idle) || started.elapsed().as_secs() > 120 {
            break;
        }
        if packed {
            match s.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) if frames.len() == 2 => {
                    let now = mono_ns();
                    match zmq_adaptor::packed::decode(&frames[0], &frames[1]) {
                        Ok((_, recs)) => {
                            for (_, r) in &recs {
                                on_record(r, now, &mut count);
                            }
                        }
                        Err(_) => bad_msgs += 1,
                    }
                    last = Instant::now();
                }
                Ok(_) => bad_msgs += 1,
                Err(zmq::Error::EAGAIN) => {
                    let _ = s.poll(zmq::POLLIN, 10);
                }
                Err(e) => panic!("consumer recv: {e}"),
            }
            continue;
        }
        match s.recv_into(&mut buf, zmq::DONTWAIT) {
            Ok(len) => {
                on_record(&buf[..len.min(buf.len())], mono_ns(), &mut count);
                last = Instant::now();
            }
            Err(zmq::Error::EAGAIN) => {
                let _ = s.poll(zmq::POLLIN, 10);
            }
            Err(e) => panic!("consumer recv: {e}"),
        }
    }
    if let Some(path) = std::env::var("PIPE_DUMP").ok().filter(|p| !p.is_empty()) {
        let text: Vec<String> = lat.iter().map(|l| format!("{l:.0}")).collect();
        let _ = std::fs::write(format!("{path}.{}", std::process::id()), text.join("\n"));
    }
    lat.sort_by(|x, y| x.total_cmp(y));
    emit(
        "consumer",
        &[
            ("count", count.to_string()),
            ("warmup", warm.to_string()),
            ("bad", (bad + bad_msgs).to_string()),
            ("p50_us", format!("{:.0}", percentile(&lat, 0.5))),
            ("p90_us", format!("{:.0}", percentile(&lat, 0.9))),
            ("p99_us", format!("{:.0}", percentile(&lat, 0.99))),
            (
                "max_us",
                format!("{:.0}", lat.last().copied().unwrap_or(f64::NAN)),
            ),
        ],
    );
}

/// `pipeline MODE LISTEN RATE SECS PROXY_PID READY_FILE DONE_FILE`: RATE records/s of
/// 200 B for SECS, each stamped with its send time, paced like `paced`. MODE `lib`:
/// this library (`log()`, default configuration) to an adaptor on LISTEN; `pub`: a
/// PUB socket, one `zmq_send` per record, to a C `zmq_proxy` on LISTEN; `none`: the
/// pacing loop and the stamping alone. Warm-up messages go out every 5 ms until the
/// consumer has one (READY_FILE). Reports this process's CPU and the proxy's (its pid)
/// over the same window: first record .. the consumer has the last one.
fn scen_pipeline(
    mode: &str,
    endpoint: &str,
    rate: u64,
    secs: u64,
    proxy_pid: i32,
    ready: &Path,
    done: &Path,
) {
    let total = rate * secs;
    let mut rec = vec![b'p'; PIPE_SIZE];
    let mut sock: Option<(zmq::Context, zmq::Socket)> = None;
    let warm_until_ready = |send: &dyn Fn()| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() && Instant::now() < deadline {
            send();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(ready.exists(), "consumer never got a warm-up message");
    };
    match mode {
        "lib" => {
            zmq_adaptor::configure(Config {
                endpoint: endpoint.to_string(),
                ..Config::default()
            })
            .expect("configure");
            warm_until_ready(&|| {
                let _ = zmq_adaptor::log(b"w");
            });
            let _ = zmq_adaptor::flush(Duration::from_secs(5));
        }
        "pub" => {
            let ctx = zmq::Context::new();
            let s = ctx.socket(zmq::PUB).expect("PUB");
            s.set_sndhwm(100_000).expect("hwm");
            s.set_linger(1000).expect("linger");
            s.connect(endpoint).expect("connect");
            warm_until_ready(&|| {
                let _ = s.send(&b"w"[..], zmq::DONTWAIT);
            });
            sock = Some((ctx, s));
        }
        "none" => {}
        other => panic!("mode {other}"),
    }
    std::thread::sleep(Duration::from_millis(50));
    set_timer_slack(1000);
    let proxy_cpu = || {
        if proxy_pid > 0 {
            process_cpu_us(proxy_pid)
        } else {
            0.0
        }
    };
    let threads0 = threads_cpu_us();
    let pcpu0 = proxy_cpu();
    let cpu0 = rusage_self_us();
    let t0 = Instant::now();
    let (mut done_n, mut errors, mut call_ns) = (0u64, 0u64, 0u64);
    let tick = Duration::from_micros(20);
    while done_n < total {
        let due =
            ((t0.elapsed().as_nanos() as u64).saturating_mul(rate) / 1_000_000_000 + 1).min(total);
        while done_n < due {
            let stamp = mono_ns();
            put_stamp(&mut rec, stamp);
            match (mode, &sock) {
                ("lib", _) => {
                    errors += zmq_adaptor::log(std::hint::black_box(&rec)).is_err() as u64
                }
                (_, Some((_, s))) => errors += s.send(&rec[..], 0).is_err() as u64,
                _ => {
                    std::hint::black_box(&rec);
                }
            }
            // Time inside the send call (the stamp is taken just before it).
            call_ns += mono_ns() - stamp;
            done_n += 1;
        }
        std::thread::sleep(tick);
    }
    let elapsed = t0.elapsed();
    if mode == "lib" {
        let _ = zmq_adaptor::flush(Duration::from_secs(10));
    }
    let peer_done = mode == "none" || wait_for_file(done, Duration::from_secs(15));
    let cpu1 = rusage_self_us();
    let pcpu1 = proxy_cpu();
    let threads1 = threads_cpu_us();
    let mut kv = vec![
        ("mode", mode.to_string()),
        ("records", total.to_string()),
        ("elapsed_ms", elapsed.as_millis().to_string()),
        ("cpu_us", format!("{:.0}", cpu1 - cpu0)),
        ("proxy_cpu_us", format!("{:.0}", pcpu1 - pcpu0)),
        ("call_us", format!("{:.0}", call_ns as f64 / 1e3)),
        ("errors", errors.to_string()),
        ("peer_done", peer_done.to_string()),
    ];
    let th = thread_delta(&threads0, &threads1);
    kv.extend(th.iter().map(|(k, v)| (k.as_str(), format!("{v:.0}"))));
    emit("pipeline", &kv);
}

// ---------------------------------------------------------------------------------
// Parent: orchestration and the table
// ---------------------------------------------------------------------------------

/// Waits for a child (bounded; killed by its pid on timeout) and parses its RESULT lines.
fn finish(c: Child, timeout: Duration) -> Vec<(String, Kv)> {
    wait_results(c, timeout)
        .iter()
        .map(|l| {
            let mut it = l.split_whitespace();
            let kind = it.next().unwrap_or_default().to_string();
            let kv = it
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (kind, kv)
        })
        .collect()
}

/// One scenario run: SUB peer child first (bound and ready), then the logging child.
/// Returns (scenario results, SUB result).
fn run_pair(
    dir: &Path,
    peer: &str,
    tag: &str,
    expect: u64,
    scen: Vec<String>,
    timeout: Duration,
) -> (Vec<(String, Kv)>, Kv) {
    let endpoint = format!("ipc://{}/{tag}.ipc", dir.display());
    let ready = dir.join(format!("{tag}.ready"));
    let done = dir.join(format!("{tag}.done"));
    let sub = spawn_self(&[
        "--sub-child".into(),
        peer.into(),
        endpoint.clone(),
        expect.to_string(),
        ready.display().to_string(),
        done.display().to_string(),
    ]);
    if !wait_for_file(&ready, Duration::from_secs(10)) {
        eprintln!("SUB child not ready");
    }
    let args: Vec<String> = scen
        .into_iter()
        .map(|a| {
            a.replace("{EP}", &endpoint)
                .replace("{DONE}", &done.display().to_string())
        })
        .collect();
    let mut full = vec!["--scenario".to_string()];
    full.extend(args);
    let c = spawn_self(&full);
    let res = finish(c, timeout);
    let sub_res = finish(sub, Duration::from_secs(15));
    let sub_kv = sub_res
        .into_iter()
        .find(|(k, _)| k == "sub")
        .map(|(_, kv)| kv)
        .unwrap_or_default();
    (res, sub_kv)
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n_tp = env_u64("PUB_BENCH_THROUGHPUT_N", 500_000);
    let runs = env_u64("PUB_BENCH_RUNS", 3).max(1);
    let secs = env_u64("PUB_BENCH_PACED_SECS", 3);
    let rate = env_u64("PUB_BENCH_RATE", 50_000);
    let tick = env_u64("PUB_BENCH_TICK_US", 20);
    let batches = 2000usize;
    let sizes = "16,200";
    println!("zmq_adaptor publisher benchmark ({} cores)", num_cpus());
    println!();

    // (1) push cost.
    if section("push") {
        push_section(dir.path(), sizes, batches);
    }
    // (2) throughput: the library, and the raw libzmq ceiling, alternated.
    if section("throughput") {
        throughput_section(dir.path(), n_tp, runs);
    }
    // (3) paced: logger vs naive PUB vs pacing alone, alternated.
    if section("paced") {
        paced_section(dir.path(), runs, secs, rate, tick);
    }
    // (4) the issue-10 pipeline: library -> zmq-adaptor -> SUB against
    //     PUB -> C zmq_proxy -> SUB, CPU per record and delivery latency.
    if section("pipeline") || section("latency") {
        let baseline = build_baseline(dir.path());
        let p_runs = env_u64("PIPE_RUNS", 3).max(1);
        if section("pipeline") {
            pipeline_section(
                dir.path(),
                &baseline,
                env_u64("PIPE_RATE", 50_000),
                env_u64("PIPE_SECS", 10),
                p_runs,
                true,
            );
        }
        if section("latency") {
            pipeline_section(
                dir.path(),
                &baseline,
                env_u64("PIPE_LAT_RATE", 5_000),
                env_u64("PIPE_LAT_SECS", 3),
                p_runs,
                false,
            );
        }
    }
}

/// Whether `PUB_BENCH_ONLY` (comma list of push, throughput, paced, pipeline, latency)
/// selects a section.
fn section(name: &str) -> bool {
    match std::env::var("PUB_BENCH_ONLY") {
        Ok(v) if !v.is_empty() => v.split(',').any(|s| s.trim() == name),
        _ => true,
    }
}

fn push_section(dir: &Path, sizes: &str, batches: usize) {
    let nsizes = sizes.split(',').count() as u64;
    let expect = 1 + nsizes * (batches as u64 + batches as u64 / 10 + 10) * BATCH as u64;
    let (res, sub) = run_pair(
        dir,
        "adaptor+pin",
        "push",
        expect,
        vec![
            "push".into(),
            "{EP}".into(),
            sizes.into(),
            batches.to_string(),
        ],
        Duration::from_secs(60),
    );
    println!(
        "(1) log() cost, one thread, drainer running, adaptor (in-process) + SUB peer consuming"
    );
    println!(
        "    ns per call, timed over {batches} batches of {BATCH} calls (target: median <= 50 ns)"
    );
    println!(
        "    {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "record", "median", "p90", "p99", "mean", "errors"
    );
    for (kind, kv) in &res {
        if kind == "push" {
            println!(
                "    {:>8} B {:>8} {:>8} {:>8} {:>8} {:>7}",
                kv["size"], kv["median"], kv["p90"], kv["p99"], kv["mean"], kv["errors"]
            );
        }
    }
    if let Some((_, t)) = res.iter().find(|(k, _)| k == "pushtotal") {
        println!(
            "    logged {} sent {} received by SUB {}",
            t["enqueued"],
            t["sent"],
            sub.get("count").map(String::as_str).unwrap_or("?")
        );
    }
    println!();
}

fn throughput_section(dir: &Path, n_tp: u64, runs: u64) {
    println!("(2) peak throughput, 200-byte records, one sending thread, N = {n_tp}");
    println!(
        "    library -> adaptor: log() -> drainer (batches) -> in-process adaptor -> SUB (tcp)"
    );
    println!("    raw XPUB -> adaptor: one thread calling zmq_send per record into the same adaptor + SUB");
    println!("    raw XPUB -> SUB: the same sender straight into a bound SUB (libzmq ceiling, no adaptor)");
    println!("    rate = N / (first send .. last received); CPU = sending process (getrusage);");
    println!("    peer = adaptor + SUB process, ready .. done (target for the library: >= 1,000,000 records/s, zero loss)");
    println!(
        "    {:<20} {:>3} {:>11} {:>11} {:>10} {:>9} {:>9} {:>5} {:>7} {:>8}  CPU µs/rec: main/drainer/zmq I/O",
        "sender", "run", "records/s", "send rec/s", "CPU µs/rec", "peer µs", "received", "loss", "retries", "minflt"
    );
    let kinds = [
        ("library -> adaptor", "throughput", "adaptor"),
        ("raw XPUB -> adaptor", "rawpub", "adaptor"),
        ("raw XPUB -> SUB", "rawpub", "direct"),
    ];
    type Acc = (Vec<f64>, Vec<f64>, Vec<f64>, f64);
    let mut acc: HashMap<&str, Acc> = HashMap::new();
    for r in 0..runs {
        for (kind, scen, peer) in kinds {
            let (res, sub) = run_pair(
                dir,
                peer,
                &format!("{scen}-{peer}-{r}"),
                n_tp,
                vec![
                    scen.into(),
                    "{EP}".into(),
                    n_tp.to_string(),
                    "200".into(),
                    "{DONE}".into(),
                ],
                Duration::from_secs(90),
            );
            let Some((_, kv)) = res.iter().find(|(k, _)| k == "throughput") else {
                println!("    {kind:<20} {:>3} failed", r + 1);
                continue;
            };
            let recv = num(&sub, "count");
            let span = num(&sub, "last_ns") - num(kv, "t0_ns");
            let rate_e2e = n_tp as f64 / (span / 1e9);
            let rate_send = n_tp as f64 / (num(kv, "log_ns") / 1e9);
            let nf = n_tp as f64;
            let cpu = num(kv, "cpu_us") / nf;
            let peer_cpu = num(&sub, "peer_cpu_us") / nf;
            let loss = nf - recv;
            let e = acc.entry(kind).or_default();
            e.0.push(rate_e2e);
            e.1.push(cpu);
            e.2.push(peer_cpu);
            e.3 = e.3.max(loss);
            println!(
                "    {:<20} {:>3} {:>11.0} {:>11.0} {:>10.3} {:>9.3} {:>9.0} {:>5.0} {:>7} {:>8}  {:.3}/{:.3}/{:.3}",
                kind,
                r + 1,
                rate_e2e,
                rate_send,
                cpu,
                peer_cpu,
                recv,
                loss,
                kv["retries"],
                kv["minflt"],
                num(kv, "thr_main") / nf,
                num(kv, "thr_zmq_adaptor_dra") / nf,
                num(kv, "thr_ZMQbg_IO_0") / nf,
            );
        }
    }
    let mut med = HashMap::new();
    for (kind, _, _) in kinds {
        if let Some((rates, cpus, peers, loss)) = acc.get_mut(kind) {
            let (rr, cr, pr) = (range(rates, 0), range(cpus, 3), range(peers, 3));
            let m = (median(rates), median(cpus), median(peers));
            med.insert(kind, m);
            println!(
                "    median {kind:<20}: {:.0} records/s ({rr}), {:.3} CPU µs/record ({cr}), peer {:.3} ({pr}), max loss {loss:.0}",
                m.0, m.1, m.2
            );
        }
    }
    for base in ["raw XPUB -> adaptor", "raw XPUB -> SUB"] {
        if let (Some(l), Some(r)) = (med.get("library -> adaptor"), med.get(base)) {
            println!(
                "    library / {base}: {:.2}x throughput, {:.2}x sender CPU per record, {:.2}x peer CPU",
                l.0 / r.0,
                l.1 / r.1,
                l.2 / r.2
            );
        }
    }
    println!();
}

fn paced_section(dir: &Path, runs: u64, secs: u64, rate: u64, tick: u64) {
    println!("(3) paced {rate} records/s for {secs} s, 200-byte records, pacing tick {tick} µs");
    println!(
        "    CPU µs per record of the whole logging process (getrusage), medians of {runs} runs"
    );
    println!("    net = minus the pacing loop alone (target for the library: <= 0.5 µs/record)");
    // Batch intervals (ms) of the library runs: PUB_BENCH_INTERVALS, default "10".
    let intervals = std::env::var("PUB_BENCH_INTERVALS").unwrap_or_else(|_| "10".into());
    let mut modes: Vec<String> = intervals
        .split(',')
        .map(|i| format!("logger@{}", i.trim()))
        .collect();
    modes.push("naive".into());
    modes.push("none".into());
    let mut per: HashMap<&str, Vec<Kv>> = HashMap::new();
    for r in 0..runs {
        for mode in modes.iter().map(String::as_str) {
            let expect = rate * secs;
            let scen = vec![
                "paced".into(),
                mode.into(),
                "{EP}".into(),
                rate.to_string(),
                secs.to_string(),
                "200".into(),
                tick.to_string(),
                "{DONE}".into(),
            ];
            let (res, sub) = if mode == "none" {
                let mut full = vec!["--scenario".to_string()];
                full.extend(
                    scen.into_iter()
                        .map(|a| a.replace("{EP}", "-").replace("{DONE}", "-")),
                );
                (
                    finish(spawn_self(&full), Duration::from_secs(secs + 30)),
                    Kv::new(),
                )
            } else {
                run_pair(
                    dir,
                    "adaptor",
                    &format!("paced-{}-{r}", mode.replace('@', "-")),
                    expect,
                    scen,
                    Duration::from_secs(secs + 30),
                )
            };
            if let Some((_, mut kv)) = res.into_iter().find(|(k, _)| k == "paced") {
                kv.insert(
                    "received".into(),
                    sub.get("count").cloned().unwrap_or_else(|| "-".into()),
                );
                per.entry(mode).or_default().push(kv);
            }
        }
    }
    let med = |mode: &str, key: &str| -> f64 {
        let mut v: Vec<f64> = per
            .get(mode)
            .map(|runs| {
                runs.iter()
                    .map(|kv| num(kv, key) / num(kv, "records").max(1.0))
                    .collect()
            })
            .unwrap_or_default();
        median(&mut v)
    };
    let pacing = med("none", "cpu_us");
    println!(
        "    {:<22} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "mode", "CPU µs/rec", "net µs/rec", "main", "drainer", "zmq I/O", "received", "of"
    );
    let labels: Vec<(String, String)> = modes
        .iter()
        .map(|m| {
            let label = match m.split_once('@') {
                Some((_, i)) => format!("library, batch {i} ms"),
                None if m == "naive" => "PUB, zmq_send/record".into(),
                None => "pacing loop alone".into(),
            };
            (m.clone(), label)
        })
        .collect();
    for (mode, label) in &labels {
        let mode = mode.as_str();
        let Some(runs_kv) = per.get(mode) else {
            continue;
        };
        let last = runs_kv.last().expect("one run");
        let total = med(mode, "cpu_us");
        println!(
            "    {:<22} {:>10.3} {:>10.3} {:>8.3} {:>9.3} {:>9.3} {:>9} {:>10}",
            label,
            total,
            if mode == "none" { 0.0 } else { total - pacing },
            med(mode, "thr_main"),
            med(mode, "thr_zmq_adaptor_dra"),
            med(mode, "thr_ZMQbg_IO_0"),
            last["received"],
            last["total"],
        );
    }
    for (m, label) in labels.iter().filter(|(m, _)| m.starts_with("logger")) {
        let l = med(m, "cpu_us") - pacing;
        let n = med("naive", "cpu_us") - pacing;
        println!(
            "    PUB / {label}: {:.1}x net CPU per record; {:.1}x whole process",
            n / l,
            med("naive", "cpu_us") / med(m, "cpu_us")
        );
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// One pipeline run of `mode` (`lib`, `pub`, `none`): the proxy process (zmq-adaptor
/// binary for `lib`, the C zmq_proxy for `pub`), the consumer, the producer.
/// Returns (producer result, consumer result).
fn pipeline_run(
    dir: &Path,
    baseline: &Path,
    mode: &str,
    tag: &str,
    rate: u64,
    secs: u64,
) -> Option<(Kv, Kv)> {
    let n = rate * secs;
    let timeout = Duration::from_secs(secs + 60);
    let pick = |res: Vec<(String, Kv)>, kind: &str| {
        res.into_iter().find(|(k, _)| k == kind).map(|(_, kv)| kv)
    };
    if mode == "none" {
        let args: Vec<String> = ["--scenario", "pipeline", "none", "-"]
            .iter()
            .map(|s| s.to_string())
            .chain([
                rate.to_string(),
                none_secs(secs).to_string(),
                "0".into(),
                "-".into(),
                "-".into(),
            ])
            .collect();
        return pick(finish(spawn_self(&args), timeout), "pipeline").map(|kv| (kv, Kv::new()));
    }
    let listen_path = dir.join(format!("{tag}.ipc"));
    let listen = format!("ipc://{}", listen_path.display());
    let publish = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let (ready, done) = (
        dir.join(format!("{tag}.ready")),
        dir.join(format!("{tag}.done")),
    );
    let hwm = "1000000".to_string();
    // `packed`: the consumer takes the packed stream; the regular one has no consumer.
    let consume = if mode == "packed" {
        format!("tcp://127.0.0.1:{}", free_tcp_port())
    } else {
        publish.clone()
    };
    let mut cmd = if mode == "lib" || mode == "packed" {
        let mut c = std::process::Command::new(adaptor_bin());
        c.args(["-b", &listen, "-p", &publish, "--stats-interval", "0"])
            .args([
                "--listen-hwm",
                &hwm,
                "--publish-hwm",
                &hwm,
                "--ipc-mode",
                "0666",
            ]);
        if mode == "packed" {
            c.args(["--publish-packed", &consume]);
        }
        c
    } else {
        let mut c = std::process::Command::new(baseline);
        c.args([&listen, &publish, &hwm]);
        c
    };
    let proxy = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn proxy");
    let pid = proxy.id();
    if !wait_for_file(&listen_path, Duration::from_secs(5)) {
        eprintln!("proxy for {tag} did not bind");
    }
    std::thread::sleep(Duration::from_millis(100));
    let cons = spawn_self(&[
        "--consumer".into(),
        consume,
        n.to_string(),
        ready.display().to_string(),
        done.display().to_string(),
        if mode == "packed" { "packed" } else { "single" }.into(),
    ]);
    let prod = spawn_self(&[
        "--scenario".into(),
        "pipeline".into(),
        if mode == "packed" { "lib" } else { mode }.into(),
        listen,
        rate.to_string(),
        secs.to_string(),
        pid.to_string(),
        ready.display().to_string(),
        done.display().to_string(),
    ]);
    let p = pick(finish(prod, timeout), "pipeline");
    let c = pick(finish(cons, Duration::from_secs(20)), "consumer");
    stop_child(proxy);
    Some((p?, c?))
}

/// Seconds of the pacing-loop-alone runs (`PIPE_NONE_SECS`, default min(secs, 3)):
/// its cost per record depends on the rate, not on the duration.
fn none_secs(secs: u64) -> u64 {
    env_u64("PIPE_NONE_SECS", secs.min(3)).max(1)
}

/// (4) The issue-10 paced pipeline, interleaved runs of the three modes.
///
/// Producer CPU per record is given two ways: `net` = the producer process's CPU minus
/// the pacing loop alone (median of the `none` runs; the brief's measure, noisy: the
/// loop costs 3–6 µs/record here and varies between runs), and `direct` = time inside
/// the send calls (`log()` / `zmq_send`, minus the stamping, from the `none` runs) plus
/// the CPU of the producer's other threads (drainer, libzmq I/O). `proxy` = the proxy
/// process's CPU. Ratios are per run (the runs of the two modes are adjacent).
fn pipeline_section(dir: &Path, baseline: &Path, rate: u64, secs: u64, runs: u64, cpu: bool) {
    let n = rate * secs;
    if cpu {
        println!(
            "(4) pipeline: {rate} records/s of {PIPE_SIZE} B for {secs} s, {runs} interleaved runs"
        );
        println!("    library: log() -> drainer -> ipc -> zmq-adaptor (binary) -> tcp -> SUB");
        println!("    packed: the same, the SUB on --publish-packed (one message per batch)");
        println!(
            "    reference: PUB zmq_send per record -> ipc -> C zmq_proxy XSUB/XPUB -> tcp -> SUB"
        );
        println!(
            "    CPU µs/record, first record .. consumer has the last: proxy = proxy process;"
        );
        println!(
            "    net = producer process minus the pacing loop alone ({}-s runs);",
            none_secs(secs)
        );
        println!("    direct = time in log()/zmq_send + the producer's other threads (drainer, libzmq I/O)");
        println!("    target: (producer + proxy) library <= 0.4x reference, packed <= 0.15x");
    } else {
        println!("    delivery latency at {rate} records/s for {secs} s (stamp in the record -> consumer);");
        println!("    target: batching adds <= batch_interval (10 ms)");
    }
    println!(
        "    {:<6} {:>3} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "mode",
        "run",
        "received",
        "process",
        "net",
        "direct",
        "calls",
        "threads",
        "proxy",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    let modes: &[&str] = if cpu {
        &["lib", "packed", "pub", "none"]
    } else {
        &["lib", "packed", "pub"]
    };
    let mut all: Vec<HashMap<&str, (Kv, Kv)>> = Vec::new();
    for r in 0..runs {
        let mut got = HashMap::new();
        for &mode in modes {
            let tag = format!("pipe-{rate}-{mode}-{r}");
            match pipeline_run(dir, baseline, mode, &tag, rate, secs) {
                Some(x) => {
                    got.insert(mode, x);
                }
                None => println!("    {mode:<6} {:>3} failed", r + 1),
            }
        }
        all.push(got);
    }
    let none_n = (rate * none_secs(secs)) as f64;
    let none_med = |key: &str| {
        let mut v: Vec<f64> = all
            .iter()
            .filter_map(|g| g.get("none"))
            .map(|(p, _)| num(p, key) / none_n)
            .collect();
        median(&mut v)
    };
    let (pacing, stamping) = (none_med("cpu_us"), none_med("call_us"));
    // Per mode: net+proxy, direct+proxy, p50, p90, p99; per run: ratios (net, direct).
    type Series = [Vec<f64>; 5];
    let mut per: HashMap<&str, Series> = HashMap::new();
    let (mut ratio_net, mut ratio_direct) = (Vec::new(), Vec::new());
    let (mut packed_net, mut packed_direct) = (Vec::new(), Vec::new());
    for (r, got) in all.iter().enumerate() {
        let mut tot: HashMap<&str, (f64, f64)> = HashMap::new();
        for &mode in modes {
            let Some((p, c)) = got.get(mode) else {
                continue;
            };
            let recs = if mode == "none" { none_n } else { n as f64 };
            let process = num(p, "cpu_us") / recs;
            let calls = num(p, "call_us") / recs - if mode == "none" { 0.0 } else { stamping };
            let threads: f64 = p
                .iter()
                .filter(|(k, _)| k.starts_with("thr_") && k.as_str() != "thr_main")
                .filter_map(|(_, v)| v.parse::<f64>().ok())
                .sum::<f64>()
                / recs;
            let (net, direct) = if mode == "none" {
                (0.0, 0.0)
            } else {
                (process - pacing, calls + threads)
            };
            let proxy = num(p, "proxy_cpu_us") / recs;
            let lat = |k: &str| num(c, k) / 1e3;
            println!(
                "    {:<6} {:>3} {:>8} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
                mode,
                r + 1,
                c.get("count").map_or("-", String::as_str),
                process,
                net,
                direct,
                calls,
                threads,
                proxy,
                lat("p50_us"),
                lat("p90_us"),
                lat("p99_us"),
                lat("max_us"),
            );
            if mode != "none" {
                tot.insert(mode, (net + proxy, direct + proxy));
                let e = per.entry(mode).or_default();
                for (i, v) in [
                    net + proxy,
                    direct + proxy,
                    lat("p50_us"),
                    lat("p90_us"),
                    lat("p99_us"),
                ]
                .into_iter()
                .enumerate()
                {
                    e[i].push(v);
                }
            }
        }
        if let (Some(l), Some(p)) = (tot.get("lib"), tot.get("pub")) {
            ratio_net.push(l.0 / p.0);
            ratio_direct.push(l.1 / p.1);
        }
        if let (Some(l), Some(p)) = (tot.get("packed"), tot.get("pub")) {
            packed_net.push(l.0 / p.0);
            packed_direct.push(l.1 / p.1);
        }
    }
    if cpu {
        println!("    pacing loop alone: {pacing:.3} µs/record (median of the none runs)");
    }
    for mode in ["lib", "packed", "pub"] {
        let Some(e) = per.get_mut(mode) else { continue };
        let label = match mode {
            "lib" => "library",
            "packed" => "packed",
            _ => "reference",
        };
        let r: Vec<String> = e.iter().map(|v| range(v, 2)).collect();
        if cpu {
            println!(
                "    {label:<9}: producer+proxy µs/record: net {:.3} ({}), direct {:.3} ({})",
                median(&mut e[0]),
                r[0],
                median(&mut e[1]),
                r[1]
            );
        }
        println!(
            "    {label:<9}: latency p50 {:.2} ms ({}), p90 {:.2} ms ({}), p99 {:.2} ms ({})",
            median(&mut e[2]),
            r[2],
            median(&mut e[3]),
            r[3],
            median(&mut e[4]),
            r[4]
        );
    }
    if cpu && !ratio_net.is_empty() {
        let (rn, rd) = (range(&ratio_net, 2), range(&ratio_direct, 2));
        println!(
            "    library / reference per run: {:.2}x net ({rn}), {:.2}x direct ({rd}) (target <= 0.4x)",
            median(&mut ratio_net),
            median(&mut ratio_direct)
        );
    }
    if cpu && !packed_net.is_empty() {
        let (rn, rd) = (range(&packed_net, 2), range(&packed_direct, 2));
        println!(
            "    packed / reference per run: {:.2}x net ({rn}), {:.2}x direct ({rd}) (target <= 0.15x)",
            median(&mut packed_net),
            median(&mut packed_direct)
        );
    }
    if !cpu {
        let med = |m: &str, i: usize| per.get(m).map_or(f64::NAN, |e| median(&mut e[i].clone()));
        for (m, label) in [("lib", "library"), ("packed", "packed stream")] {
            println!(
                "    added by the {label}: p50 {:+.2} ms, p90 {:+.2} ms, p99 {:+.2} ms (target <= 10 ms)",
                med(m, 2) - med("pub", 2),
                med(m, 3) - med("pub", 3),
                med(m, 4) - med("pub", 4)
            );
        }
    }
    println!();
}

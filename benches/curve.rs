//! The cost of CURVE: the whole path worker → adaptor → consumer over tcp on
//! 127.0.0.1, plain (NULL mechanism) against CURVE on both hops (the adaptor with
//! `--curve-secret` and `--curve-clients`, the worker with `curve_*` keys, the consumer
//! a CURVE client), alternated in one run.
//!
//! Each run: a `zmq-adaptor` process (`-b tcp://…` and `-p tcp://…`), a SUB consumer
//! in this process (its own context and thread), then a `zmq-loggen` process logging N
//! 200-byte records as fast as it can. Throughput is N over the time from the
//! worker's start to the consumer's last record. CPU per record: the adaptor's (its
//! kernel CPU clock, read before the worker starts and after the last record), the
//! worker's (user + system of the whole `zmq-loggen` process: request path, drainer,
//! libzmq I/O) and the consumer's (this process, same interval).
//!
//! Run with `cargo bench --bench curve`. Knobs: `CURVE_BENCH_N` (records per run,
//! default 200,000), `CURVE_BENCH_RUNS` (pairs of runs, default 3).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zmq_adaptor::security::{self, ClientKeys};

mod common;
use common::*;

const ADAPTOR: &str = env!("CARGO_BIN_EXE_zmq-adaptor");
const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");
const SIZE: usize = 200;

/// CPU time (user + system) of process `pid` in µs, from its kernel CPU clock.
fn process_cpu_us(pid: i32) -> f64 {
    // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) from the kernel's posix-timers.h.
    let clock = ((!(pid as libc::clockid_t)) << 3) | 2;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; a bad clock id only yields an error.
    if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
        ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
    } else {
        f64::NAN
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// Keys of one CURVE setup: the adaptor's, the worker's and the consumer's.
struct Keys {
    adaptor_secret: String,
    adaptor_public: String,
    clients: String,
    worker_secret: String,
    consumer: ClientKeys,
}

fn make_keys(dir: &Path) -> Keys {
    let g = |n: &str| security::keygen(&dir.join(n)).expect("keygen");
    let (a, w, c) = (g("adaptor"), g("worker"), g("consumer"));
    let clients = dir.join("clients");
    std::fs::create_dir(&clients).expect("clients dir");
    for (f, n) in [
        (&w.public_file, "worker.key"),
        (&c.public_file, "consumer.key"),
    ] {
        std::fs::copy(f, clients.join(n)).expect("copy cert");
    }
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    Keys {
        adaptor_secret: s(&a.secret_file),
        adaptor_public: s(&a.public_file),
        clients: s(&clients),
        worker_secret: s(&w.secret_file),
        consumer: ClientKeys {
            server: a.keys.public,
            keys: c.keys,
        },
    }
}

struct RunResult {
    rate: f64,
    adaptor_us: f64,
    worker_us: f64,
    consumer_us: f64,
}

fn self_cpu_us() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn one_run(keys: Option<&Keys>, n: u64) -> Option<RunResult> {
    let listen = format!("tcp://127.0.0.1:{}", free_port());
    let publish = format!("tcp://127.0.0.1:{}", free_port());
    let mut args = vec![
        "-b".to_string(),
        listen.clone(),
        "-p".into(),
        publish.clone(),
        "--stats-interval".into(),
        "0".into(),
        // Room for the whole run: a consumer slower than the worker (decryption)
        // is measured, not cut off at the default per-consumer HWM.
        "--publish-hwm".into(),
        (2 * n).to_string(),
    ];
    if let Some(k) = keys {
        args.extend([
            "--curve-secret".into(),
            k.adaptor_secret.clone(),
            "--curve-clients".into(),
            k.clients.clone(),
        ]);
    }
    let mut adaptor = Command::new(ADAPTOR)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));

    // The consumer.
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).ok()?;
    sub.set_rcvhwm(0).ok()?;
    sub.set_linger(0).ok()?;
    sub.set_subscribe(b"x-").ok()?;
    if let Some(k) = keys {
        security::apply_client(&sub, &k.consumer).ok()?;
    }
    sub.connect(&publish).ok()?;
    let got = Arc::new(AtomicU64::new(0));
    let last_ns = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (g, l, st) = (got.clone(), last_ns.clone(), stop.clone());
    let consumer = std::thread::spawn(move || {
        let mut msg = zmq::Message::new();
        while !st.load(Ordering::Acquire) && g.load(Ordering::Relaxed) < n {
            if sub.poll(zmq::POLLIN, 50).unwrap_or(0) == 0 {
                continue;
            }
            while sub.recv(&mut msg, zmq::DONTWAIT).is_ok() {
                g.fetch_add(1, Ordering::Relaxed);
            }
            l.store(mono_ns(), Ordering::Relaxed);
        }
    });
    std::thread::sleep(Duration::from_millis(300));

    let a_cpu0 = process_cpu_us(adaptor.id() as i32);
    let c_cpu0 = self_cpu_us();
    let t0 = mono_ns();
    let mut lg = Command::new(LOGGEN);
    lg.args([
        "-e",
        &listen,
        "-n",
        &n.to_string(),
        "--size",
        &SIZE.to_string(),
        "--prefix",
        "x",
        "--queue-records",
        "262144",
        "--flush-ms",
        "60000",
    ]);
    if let Some(k) = keys {
        lg.args([
            "--curve-server",
            &k.adaptor_public,
            "--curve-secret",
            &k.worker_secret,
        ]);
    }
    let child = lg
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pid = child.id() as libc::pid_t;
    // Reap with wait4 for the worker's CPU (bounded: the consumer wait below is).
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` and `ru` are valid, writable.
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    let worker_us = tv(ru.ru_utime) + tv(ru.ru_stime);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let a_cpu1 = process_cpu_us(adaptor.id() as i32);
    let c_cpu1 = self_cpu_us();
    stop.store(true, Ordering::Release);
    let _ = consumer.join();
    // SAFETY: kill with a pid we own and a valid signal.
    unsafe { libc::kill(adaptor.id() as i32, libc::SIGTERM) };
    let _ = adaptor.wait();
    let received = got.load(Ordering::Relaxed);
    if received < n {
        eprintln!("run incomplete: {received}/{n} records");
        return None;
    }
    let secs = (last_ns.load(Ordering::Relaxed).saturating_sub(t0)) as f64 / 1e9;
    Some(RunResult {
        rate: n as f64 / secs,
        adaptor_us: (a_cpu1 - a_cpu0) / n as f64,
        worker_us: worker_us / n as f64,
        consumer_us: (c_cpu1 - c_cpu0) / n as f64,
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn main() {
    let n = env_u64("CURVE_BENCH_N", 200_000);
    let runs = env_u64("CURVE_BENCH_RUNS", 3).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = make_keys(dir.path());
    println!(
        "CURVE cost ({} cores): {n} x {SIZE}-byte records per run, zmq-loggen -tcp-> zmq-adaptor -tcp-> SUB, runs alternate",
        std::thread::available_parallelism().map_or(1, |c| c.get())
    );
    println!();
    println!(
        "    {:<6} {:>3} {:>12} {:>14} {:>14} {:>15}",
        "mode", "run", "records/s", "adaptor µs/rec", "worker µs/rec", "consumer µs/rec"
    );
    let modes: [(&str, Option<&Keys>); 2] = [("plain", None), ("CURVE", Some(&keys))];
    let mut acc: Vec<[Vec<f64>; 4]> = vec![Default::default(), Default::default()];
    for r in 0..runs {
        for (i, (name, k)) in modes.iter().enumerate() {
            match one_run(*k, n) {
                Some(res) => {
                    println!(
                        "    {:<6} {:>3} {:>12.0} {:>14.3} {:>14.3} {:>15.3}",
                        name,
                        r + 1,
                        res.rate,
                        res.adaptor_us,
                        res.worker_us,
                        res.consumer_us
                    );
                    for (j, v) in [res.rate, res.adaptor_us, res.worker_us, res.consumer_us]
                        .into_iter()
                        .enumerate()
                    {
                        acc[i][j].push(v);
                    }
                }
                None => println!("    {:<6} {:>3} failed", name, r + 1),
            }
        }
    }
    println!();
    let mut meds = Vec::new();
    for (i, (name, _)) in modes.iter().enumerate() {
        let m: Vec<f64> = acc[i].iter_mut().map(|v| median(v)).collect();
        println!(
            "    median {:<6} {:>10.0} records/s, adaptor {:.3} µs/rec, worker {:.3} µs/rec, consumer {:.3} µs/rec",
            name, m[0], m[1], m[2], m[3]
        );
        meds.push(m);
    }
    println!(
        "    CURVE / plain: {:.2}x throughput, {:.2}x adaptor CPU, {:.2}x worker CPU, {:.2}x consumer CPU per record",
        meds[1][0] / meds[0][0],
        meds[1][1] / meds[0][1],
        meds[1][2] / meds[0][2],
        meds[1][3] / meds[0][3]
    );
}

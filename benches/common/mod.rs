//! Measurement helpers shared by the benchmarks (each bench is one binary that
//! re-executes itself for its child roles).
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Result lines parsed into key/value pairs.
pub type Kv = std::collections::HashMap<String, String>;

/// CLOCK_MONOTONIC in ns: comparable between processes of this machine.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Prints one machine-readable result line for the parent.
pub fn emit(kind: &str, kv: &[(&str, String)]) {
    let mut s = format!("RESULT {kind}");
    for (k, v) in kv {
        s.push_str(&format!(" {k}={v}"));
    }
    println!("{s}");
}

/// `ZMQ_XPUB_NODROP` (zmq.h), not wrapped by the `zmq` crate.
pub fn set_xpub_nodrop(s: &mut zmq::Socket) {
    let one: libc::c_int = 1;
    // SAFETY: the socket pointer is live for the borrow; the option value is one c_int
    // on our stack that libzmq only reads.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            s.as_mut_ptr(),
            69,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>(),
        )
    };
    assert_eq!(rc, 0, "ZMQ_XPUB_NODROP");
}

pub fn spawn_self(args: &[String]) -> Child {
    Command::new(std::env::current_exe().expect("current_exe"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

pub fn num(kv: &Kv, k: &str) -> f64 {
    kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// Waits for a child (bounded; killed by its pid on timeout) and returns its
/// `RESULT …` lines without the prefix.
pub fn wait_results(mut c: Child, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        match c.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                eprintln!("child {} timed out; killing it", c.id());
                let _ = c.kill();
                let _ = c.wait();
                break;
            }
        }
    }
    let mut out = String::new();
    if let Some(mut so) = c.stdout.take() {
        let _ = so.read_to_string(&mut out);
    }
    out.lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(str::to_string)
        .collect()
}

/// User + system CPU time of process `pid` in µs: its kernel CPU clock (ns precision),
/// or utime + stime from /proc/<pid>/stat (clock ticks) when that clock is refused.
pub fn process_cpu_us(pid: i32) -> f64 {
    // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) from the kernel's posix-timers.h.
    let clock = ((!(pid as libc::clockid_t)) << 3) | 2;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; a bad clock id only yields an error.
    if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
        return ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks * 1e6 / hz
}

/// Stops a process we spawned: SIGTERM to its pid, then SIGKILL after 5 s.
pub fn stop_child(mut c: Child) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Compiles the C `zmq_proxy` baseline (benches/c/zmq_proxy_baseline.c) into `dir`.
pub fn build_baseline(dir: &std::path::Path) -> std::path::PathBuf {
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/c/zmq_proxy_baseline.c");
    let out = dir.join("zmq_proxy_baseline");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("-lzmq")
        .status()
        .expect("run the C compiler");
    assert!(st.success(), "compiling {} failed", src.display());
    out
}

/// The adaptor binary the benches run: `ZMQ_ADAPTOR_BIN`, else the one cargo built.
pub fn adaptor_bin() -> String {
    std::env::var("ZMQ_ADAPTOR_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_zmq-adaptor").to_string())
}

/// Value at quantile `p` of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Median (sorts `v`).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(v, 0.5)
}

/// "lo–hi" of the samples, with `prec` decimals.
pub fn range(v: &[f64], prec: usize) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        return "-".into();
    }
    format!("{lo:.prec$}–{hi:.prec$}")
}

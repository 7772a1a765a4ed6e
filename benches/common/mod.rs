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

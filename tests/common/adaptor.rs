//! A real `zmq-adaptor` process for tests, with its output collected.

use super::{Proc, Sub};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_tcp() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://127.0.0.1:{}", l.local_addr().unwrap().port())
}

/// A running adaptor whose stdout lines are collected by a thread.
pub struct Adaptor {
    /// The process.
    pub proc: Proc,
    out: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    err: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn start_adaptor(args: &[&str]) -> Adaptor {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zmq-adaptor"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let err = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for (pipe, sink) in [
        (
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            out.clone(),
        ),
        (
            Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
            err.clone(),
        ),
    ] {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
    }
    let a = Adaptor {
        proc: Proc(child),
        out,
        err,
    };
    a.wait_for("forwarding", Duration::from_secs(10));
    a
}

impl Adaptor {
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.stdout().contains(needle) || self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Waits until `sub` demonstrably receives through the adaptor (its subscription has
/// reached it): sends probes from a plain PUB on the listen side until one arrives.
pub fn wait_until_subscribed(listen: &str, sub: &Sub) {
    let ctx = zmq::Context::new();
    let p = ctx.socket(zmq::PUB).unwrap();
    p.set_linger(0).unwrap();
    p.connect(listen).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        p.send(&b"probe"[..], 0).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        if sub.count() > 0 {
            return;
        }
    }
    panic!("consumer never subscribed through the adaptor");
}

pub fn records(got: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    got.iter()
        .map(|m| m.last().unwrap().clone())
        .filter(|r| r.as_slice() != b"probe")
        .collect()
}

/// An adaptor listening on `listen` and publishing on `publish`, without periodic
/// stats lines, with `extra` flags.
pub fn adaptor_on(listen: &str, publish: &str, extra: &[&str]) -> Adaptor {
    let mut args = vec!["-b", listen, "-p", publish, "--stats-interval", "0"];
    args.extend_from_slice(extra);
    start_adaptor(&args)
}

/// A free `127.0.0.1:PORT` for an HTTP listener (`--metrics`).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The value of an unlabelled series (`name value`) in a `/metrics` text.
pub fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `GET /metrics` over a plain TCP connection: the whole response (status, headers,
/// body).
pub fn get_metrics(addr: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

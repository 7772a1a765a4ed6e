//! Shared helpers for the integration tests: real ZeroMQ peers, real processes.
#![allow(dead_code)]

pub mod adaptor;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fresh temporary directory, searchable by other users (ipc sockets live here).
pub fn tempdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("zmq-adaptor-test")
        .tempdir()
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// An ipc endpoint inside `dir`.
pub fn ipc(dir: &Path, name: &str) -> String {
    format!("ipc://{}/{}", dir.display(), name)
}

/// A SUB socket serviced by its own thread (libzmq attaches new peers and sends the
/// subscription only while the socket's owner calls into it), collecting messages.
pub struct Sub {
    /// The endpoint it is bound to (wildcards resolved) or connected to.
    pub endpoint: String,
    /// Messages received so far, every frame of each.
    got: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
    /// Tells the thread to stop.
    stop: Arc<AtomicBool>,
    /// The receiving thread.
    thread: Option<std::thread::JoinHandle<()>>,
    /// The in-process adaptor between the logger and this SUB, when it owns one.
    proxy: Option<zmq_adaptor::proxy::Proxy>,
}

impl Sub {
    fn start(endpoint: &str, topic: &[u8], bind: bool) -> Sub {
        let ctx = zmq::Context::new();
        let sock = ctx.socket(zmq::SUB).unwrap();
        sock.set_rcvhwm(0).unwrap();
        sock.set_linger(0).unwrap();
        sock.set_subscribe(topic).unwrap();
        let endpoint = if bind {
            sock.bind(endpoint).unwrap();
            sock.get_last_endpoint().unwrap().unwrap()
        } else {
            sock.connect(endpoint).unwrap();
            endpoint.to_string()
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let _ctx = ctx;
            while !st.load(Ordering::Acquire) {
                if sock.poll(zmq::POLLIN, 20).unwrap_or(0) > 0 {
                    while let Ok(m) = sock.recv_multipart(zmq::DONTWAIT) {
                        g.lock().unwrap().push(m);
                    }
                }
            }
        });
        Sub {
            endpoint,
            got,
            stop,
            thread: Some(thread),
            proxy: None,
        }
    }

    /// An in-process adaptor listening at `endpoint` (the logger connects to it) and a
    /// SUB subscribed to `topic` on its publish side. Records from the logger reach a
    /// consumer only through an adaptor (the internal hop is batched).
    pub fn bind(endpoint: &str, topic: &[u8]) -> Sub {
        let cfg = zmq_adaptor::proxy::ProxyConfig {
            listen: endpoint.to_string(),
            publish: "tcp://127.0.0.1:*".to_string(),
            ..Default::default()
        };
        let proxy = zmq_adaptor::proxy::Proxy::start(&cfg, None, None).expect("adaptor starts");
        let publish = proxy.endpoints().1.to_string();
        let mut sub = Self::start(&publish, topic, false);
        // Records are held until the consumer's subscription reached the adaptor.
        let t = Instant::now();
        while proxy.subscriptions() == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        sub.proxy = Some(proxy);
        sub
    }

    /// Connects a SUB subscribed to `topic` to `endpoint` (an adaptor's publish side).
    pub fn connect(endpoint: &str, topic: &[u8]) -> Sub {
        Self::start(endpoint, topic, false)
    }

    /// How many messages arrived so far.
    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits until `n` messages arrived, or nothing new came for `idle`, never longer
    /// than `max`; returns everything received so far.
    pub fn collect(&self, n: usize, idle: Duration, max: Duration) -> Vec<Vec<Vec<u8>>> {
        let start = Instant::now();
        let mut last = Instant::now();
        let mut seen = self.count();
        while seen < n && last.elapsed() < idle && start.elapsed() < max {
            std::thread::sleep(Duration::from_millis(20));
            let c = self.count();
            if c != seen {
                seen = c;
                last = Instant::now();
            }
        }
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.terminate();
        }
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Directory holding the built artefacts (target/debug or target/release).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test-binary>
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Path of the built cdylib.
pub fn cdylib() -> PathBuf {
    let t = target_dir();
    for p in [
        t.join("libzmq_adaptor.so"),
        t.join("deps/libzmq_adaptor.so"),
    ] {
        if p.exists() {
            return p;
        }
    }
    panic!("libzmq_adaptor.so not found under {}", t.display());
}

/// Compiles `tests/c/<name>.c` with -Wall -Wextra -Werror against the header and the
/// built library; returns the executable.
pub fn compile_c(name: &str, out_dir: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib = cdylib();
    let libdir = lib.parent().unwrap();
    let exe = out_dir.join(name);
    let status = Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-D_DEFAULT_SOURCE",
            "-o",
        ])
        .arg(&exe)
        .arg(root.join(format!("tests/c/{name}.c")))
        .arg(format!("-I{}", root.join("include").display()))
        .arg(format!("-L{}", libdir.display()))
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-lzmq_adaptor")
        .status()
        .expect("cc runs");
    assert!(status.success(), "compiling {name}.c failed");
    exe
}

/// A child process that is killed when dropped (every process we start is stopped).
pub struct Proc(pub Child);

impl Proc {
    /// Sends SIGTERM and waits (bounded) for exit; returns the exit code.
    pub fn term(&mut self, timeout: Duration) -> Option<i32> {
        // SAFETY: kill with a pid we own and a valid signal.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.wait(timeout)
    }
    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
    /// Waits up to `timeout` for exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(st)) = self.0.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Text of record `i` as the tests log it.
pub fn rec(prefix: &str, i: usize) -> Vec<u8> {
    format!("{prefix}-{i:07}").into_bytes()
}

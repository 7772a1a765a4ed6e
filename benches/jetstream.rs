//! JetStream sink benchmark: records/s into a real `nats-server -js` (file storage,
//! on this machine) and CPU per record, on the adaptor side (the `offer` calls plus the
//! sink's thread: this process) and on the server side (nats-server's process clock).
//!
//! Scenarios, one run each, in one process against one server:
//! * `queue`: no spool; records offered as fast as `offer` takes them (a full
//!   in-memory queue spills to the memory backlog), until every one is acked;
//! * `spool`: the same with a disk spool (`interval` fsync): what the queue cannot
//!   take goes through the spool;
//! * `spool-append`: the server is down; records go to the spool only (`interval`,
//!   then `always` fsync on 1/400 of the records);
//! * `replay`: the server comes back; the spool is replayed until all are acked.
//!
//! Run with `cargo bench --bench jetstream`. Knobs: `JS_BENCH_N` (records per scenario,
//! default 200,000), `JS_BENCH_SIZE` (record bytes, default 200).
#![cfg(feature = "jetstream")]

#[path = "../src/jetstream.rs"]
#[allow(dead_code)]
mod jetstream;

use jetstream::{JetStreamOptions, JetStreamSink};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zmq_adaptor::durable::{DurableRecord, DurableSink, LocalIds};
use zmq_adaptor::spool::{FsyncPolicy, SpoolOptions};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU of process `pid` in µs (/proc/<pid>/stat).
fn process_cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
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

/// User + system CPU of this process in µs.
fn self_cpu_us() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Server {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl Server {
    fn up(&mut self) {
        let child = Command::new(nats_server_bin())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (apt package nats-server)");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "nats-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill with a pid we own and a valid signal.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.down();
    }
}

/// The `nats-server` binary: on PATH, or where Debian installs it (/usr/sbin is not on
/// an ordinary user's PATH).
fn nats_server_bin() -> &'static str {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("nats-server").is_file()));
    if on_path {
        "nats-server"
    } else {
        "/usr/sbin/nats-server"
    }
}

fn records(ids: &LocalIds, n: u64, size: usize) -> Vec<DurableRecord> {
    (0..n)
        .map(|i| {
            let mut body =
                format!("{{\"req\":{i},\"api\":\"/v1/things\",\"status\":200}}").into_bytes();
            body.resize(size, b' ');
            DurableRecord {
                id: ids.next_id(),
                topic: None,
                body,
            }
        })
        .collect()
}

struct Row {
    name: &'static str,
    n: u64,
    secs: f64,
    self_us: f64,
    server_us: f64,
    note: String,
}

fn spool_opts(dir: &Path, fsync: FsyncPolicy) -> SpoolOptions {
    SpoolOptions {
        dir: dir.to_path_buf(),
        max_bytes: 4 << 30,
        segment_bytes: 0,
        fsync,
    }
}

/// Offers `recs` and waits until `acked` reaches `target`; returns the row.
fn run(
    name: &'static str,
    srv: &Server,
    sink: &JetStreamSink,
    recs: Vec<DurableRecord>,
    target: u64,
) -> Row {
    let n = recs.len() as u64;
    let stats = sink.stats();
    let (c0, s0, t0) = (self_cpu_us(), process_cpu_us(srv.pid()), Instant::now());
    for r in recs {
        sink.offer(r).expect("offer");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.acked.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "{name}: not all acked");
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = t0.elapsed().as_secs_f64();
    Row {
        name,
        n,
        secs,
        self_us: self_cpu_us() - c0,
        server_us: process_cpu_us(srv.pid()) - s0,
        note: format!(
            "spooled {}, retries {}",
            stats.spooled.load(Ordering::Relaxed),
            stats.retries.load(Ordering::Relaxed)
        ),
    }
}

fn main() {
    let n = env_u64("JS_BENCH_N", 200_000);
    let size = env_u64("JS_BENCH_SIZE", 200) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut srv = Server {
        child: None,
        port,
        dir: dir.path().join("nats"),
    };
    srv.up();
    let ids = LocalIds::new();
    let mut rows = Vec::new();

    let sink = JetStreamSink::start(JetStreamOptions::new(srv.url(), "bench.q")).expect("start");
    rows.push(run("queue", &srv, &sink, records(&ids, n, size), n));
    drop(sink);

    let mut o = JetStreamOptions::new(srv.url(), "bench.s");
    o.spool = Some(spool_opts(
        &dir.path().join("spool1"),
        FsyncPolicy::default(),
    ));
    let sink = JetStreamSink::start(o).expect("start");
    rows.push(run("spool", &srv, &sink, records(&ids, n, size), n));
    drop(sink);

    // Server down: spool only.
    let mut o = JetStreamOptions::new(srv.url(), "bench.r");
    JetStreamSink::start(o.clone())
        .expect("stream")
        .shutdown(Duration::from_secs(1));
    srv.down();
    for (name, fsync, n) in [
        ("spool-append (interval)", FsyncPolicy::default(), n),
        (
            "spool-append (always)",
            FsyncPolicy::Always,
            (n / 400).max(100),
        ),
    ] {
        let d = dir.path().join(format!("spool-{}", rows.len()));
        o.spool = Some(spool_opts(&d, fsync));
        let sink = JetStreamSink::start(o.clone()).expect("start");
        let stats = sink.stats();
        let recs = records(&ids, n, size);
        let (c0, t0) = (self_cpu_us(), Instant::now());
        for r in recs {
            sink.offer(r).expect("offer");
        }
        let secs = t0.elapsed().as_secs_f64();
        let self_us = self_cpu_us() - c0;
        assert_eq!(stats.spool_records.load(Ordering::Relaxed), n);
        rows.push(Row {
            name,
            n,
            secs,
            self_us,
            server_us: 0.0,
            note: format!(
                "{} MiB on disk",
                stats.spool_bytes.load(Ordering::Relaxed) >> 20
            ),
        });
        sink.shutdown(Duration::from_secs(1));
    }
    // Replay the first (interval) spool.
    let d = dir.path().join("spool-2");
    o.spool = Some(spool_opts(&d, FsyncPolicy::default()));
    srv.up();
    let (c0, t0) = (self_cpu_us(), Instant::now());
    let s0 = process_cpu_us(srv.pid());
    let sink = JetStreamSink::start(o).expect("start");
    let stats = sink.stats();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.acked.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "replay: not all acked");
        std::thread::sleep(Duration::from_millis(1));
    }
    rows.push(Row {
        name: "replay",
        n,
        secs: t0.elapsed().as_secs_f64(),
        self_us: self_cpu_us() - c0,
        server_us: process_cpu_us(srv.pid()) - s0,
        note: format!("spool left {}", stats.spool_records.load(Ordering::Relaxed)),
    });
    drop(sink);

    let pipe = pipeline(&srv, dir.path(), n, size);

    println!(
        "\nJetStream sink, {n} records of {size} bytes, nats-server {} on 127.0.0.1 (file store)\n",
        Command::new(nats_server_bin())
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    println!("| scenario | records | records/s | adaptor-side CPU µs/record | nats-server CPU µs/record | notes |");
    println!("|---|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {} | {} |",
            r.name,
            r.n,
            r.n as f64 / r.secs,
            r.self_us / r.n as f64,
            if r.server_us > 0.0 {
                format!("{:.2}", r.server_us / r.n as f64)
            } else {
                "—".into()
            },
            r.note
        );
    }
    println!(
        "\nOn-node pipeline, {n} records of {size} bytes: zmq-loggen (library, one worker) → zmq-adaptor → consumer\n"
    );
    println!("| adaptor output | records/s | adaptor CPU µs/record | zmq-loggen CPU µs/record | nats-server CPU µs/record |");
    println!("|---|---:|---:|---:|---:|");
    for p in pipe {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} |",
            p.name,
            n as f64 / p.secs,
            p.adaptor_us / n as f64,
            p.loggen_us / n as f64,
            if p.server_us > 0.0 {
                format!("{:.2}", p.server_us / n as f64)
            } else {
                "—".into()
            }
        );
    }
}

struct Pipe {
    name: &'static str,
    secs: f64,
    adaptor_us: f64,
    loggen_us: f64,
    server_us: f64,
}

/// CPU of reaped children of this process, in µs.
fn children_cpu_us() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn stream_messages(url: &str, stream: &str) -> u64 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let Ok(c) = async_nats::connect(url).await else {
                return 0;
            };
            match async_nats::jetstream::new(c).get_stream(stream).await {
                Ok(mut st) => st.info().await.map(|i| i.state.messages).unwrap_or(0),
                Err(_) => 0,
            }
        })
}

/// zmq-loggen → zmq-adaptor, side by side: ZeroMQ consumer only, JetStream only
/// (`-p none`; and write-ahead through the spool), both.
fn pipeline(srv: &Server, dir: &Path, n: u64, size: usize) -> Vec<Pipe> {
    let adaptor = env!("CARGO_BIN_EXE_zmq-adaptor");
    let loggen = env!("CARGO_BIN_EXE_zmq-loggen");
    let mut out = Vec::new();
    for (i, (name, zmq_out, js, wal)) in [
        ("ZeroMQ consumer only", true, false, false),
        ("JetStream only (-p none)", false, true, false),
        ("JetStream only, --spool --spool-all", false, true, true),
        ("ZeroMQ consumer + JetStream", true, true, false),
    ]
    .into_iter()
    .enumerate()
    {
        let listen = format!("ipc://{}/listen{i}", dir.display());
        let publish = format!("ipc://{}/publish{i}", dir.display());
        let subject = format!("pipe{i}");
        let mut cmd = Command::new(adaptor);
        cmd.args(["-b", &listen, "--stats-interval", "0"])
            .args(["-p", if zmq_out { &publish } else { "none" }]);
        if js {
            cmd.args(["--jetstream", &srv.url(), "--jetstream-subject", &subject]);
        }
        let spool = dir.join(format!("pipe-spool{i}"));
        if wal {
            cmd.args(["--spool", spool.to_str().unwrap(), "--spool-all"]);
        }
        let mut a = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let path = listen.trim_start_matches("ipc://").to_string();
        let t = Instant::now();
        while !Path::new(&path).exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "adaptor did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // A ZeroMQ consumer counting records, in a thread.
        let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let consumer = zmq_out.then(|| {
            let ctx = zmq::Context::new();
            let s = ctx.socket(zmq::SUB).unwrap();
            s.set_rcvhwm(1_000_000).unwrap();
            s.connect(&publish).unwrap();
            s.set_subscribe(b"").unwrap();
            let c = counted.clone();
            std::thread::spawn(move || {
                let _ctx = ctx;
                let mut m = zmq::Message::new();
                while s.poll(zmq::POLLIN, 1000).unwrap_or(0) > 0 {
                    while s.recv(&mut m, zmq::DONTWAIT).is_ok() {
                        if !m.get_more() {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        let (a0, s0, l0, t0) = (
            process_cpu_us(a.id()),
            process_cpu_us(srv.pid()),
            children_cpu_us(),
            Instant::now(),
        );
        let st = Command::new(loggen)
            .args([
                "-e",
                &listen,
                "-n",
                &n.to_string(),
                "--size",
                &size.to_string(),
            ])
            .args([
                "--queue-records",
                &(n + 1).to_string(),
                "--flush-ms",
                "60000",
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "zmq-loggen failed");
        let loggen_us = children_cpu_us() - l0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let stream = stream_name(&subject);
        loop {
            let zmq_done = !zmq_out || counted.load(Ordering::Relaxed) >= n;
            let js_done = !js || stream_messages(&srv.url(), &stream) >= n;
            if zmq_done && js_done {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: records did not all arrive"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        out.push(Pipe {
            name,
            secs: t0.elapsed().as_secs_f64(),
            adaptor_us: process_cpu_us(a.id()) - a0,
            loggen_us,
            server_us: if js {
                process_cpu_us(srv.pid()) - s0
            } else {
                0.0
            },
        });
        // SAFETY: kill with a pid we own and a valid signal.
        unsafe { libc::kill(a.id() as i32, libc::SIGTERM) };
        let _ = a.wait();
        if let Some(c) = consumer {
            let _ = c.join();
        }
    }
    out
}

fn stream_name(subject: &str) -> String {
    jetstream::stream_name_for(subject)
}

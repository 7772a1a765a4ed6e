//! The JetStream sink against a real `nats-server -js` (Debian package `nats-server`),
//! started per test on a free 127.0.0.1 port with its own store directory, stopped by
//! pid. The stream's content is read back with async-nats (ordered consumer).
#![cfg(feature = "jetstream")]

#[path = "../src/jetstream.rs"]
#[allow(dead_code)]
mod jetstream;

mod common;
use common::{ipc, rec, tempdir, Proc, Sub};
use futures_util::StreamExt;
use jetstream::{JetStreamOptions, JetStreamSink, StartError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zmq_adaptor::durable::{DurableRecord, DurableSink, LocalIds, RefuseReason};
use zmq_adaptor::spool::{FsyncPolicy, SpoolOptions};

/// A `nats-server -js` on 127.0.0.1:port with store `dir`.
struct Nats {
    proc: Option<Proc>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
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

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Nats {
    fn start(dir: &Path) -> Nats {
        Nats::start_with(dir, &[])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Nats {
        let mut n = Nats {
            proc: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        n.up();
        n
    }

    /// (Re)starts the server on the same port and store.
    fn up(&mut self) {
        assert!(self.proc.is_none());
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats-server.log"))
            .unwrap();
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
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server runs (apt package nats-server; scripts/deps.sh test)");
        self.proc = Some(Proc(child));
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "nats-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM, bounded wait, then SIGKILL).
    fn down(&mut self) {
        if let Some(mut p) = self.proc.take() {
            if p.term(Duration::from_secs(5)).is_none() {
                p.kill9();
            }
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.down();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every message of `stream`: `Nats-Msg-Id` → (count, subject).
fn read_stream(url: &str, stream: &str) -> HashMap<String, (u32, String)> {
    read_stream_bodies(url, stream)
        .into_iter()
        .map(|(k, (c, s, _))| (k, (c, s)))
        .collect()
}

/// Every message of `stream`: `Nats-Msg-Id` → (count, subject, body).
fn read_stream_bodies(url: &str, stream: &str) -> HashMap<String, (u32, String, Vec<u8>)> {
    rt().block_on(async {
        let client = async_nats::connect(url).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let mut st = js.get_stream(stream).await.expect("stream exists");
        let n = st.info().await.unwrap().state.messages;
        let mut out: HashMap<String, (u32, String, Vec<u8>)> = HashMap::new();
        if n == 0 {
            return out;
        }
        let consumer = st
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut msgs = consumer.messages().await.unwrap();
        let mut seen = 0;
        while seen < n {
            let m = tokio::time::timeout(Duration::from_secs(10), msgs.next())
                .await
                .expect("stream read stalled")
                .expect("message")
                .expect("message ok");
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_string())
                .unwrap_or_else(|| panic!("no Nats-Msg-Id: {:?} {:?}", m.subject, m.headers));
            let e = out
                .entry(id)
                .or_insert((0, m.subject.to_string(), m.payload.to_vec()));
            e.0 += 1;
            seen += 1;
        }
        out
    })
}

/// Asserts the stream holds each of `expect` ids exactly once and nothing else.
fn assert_exactly_once(url: &str, stream: &str, expect: &[String]) {
    let got = read_stream(url, stream);
    let dups = got.values().filter(|(c, _)| *c > 1).count();
    assert_eq!(dups, 0, "duplicate ids in the stream");
    let missing = expect.iter().filter(|id| !got.contains_key(*id)).count();
    assert_eq!(missing, 0, "ids missing from the stream");
    assert_eq!(got.len(), expect.len(), "unexpected ids in the stream");
}

fn record(ids: &LocalIds, i: usize, topic: bool) -> DurableRecord {
    DurableRecord {
        id: ids.next_id(),
        topic: topic.then(|| b"billing".to_vec()),
        body: format!(
            "{{\"req\":{i},\"api\":\"/v1/things\",\"status\":200,\"bytes\":{}}}",
            i * 7
        )
        .into_bytes(),
    }
}

/// A nats-server in `dir`/nats on which the "usage" stream was created, then stopped:
/// what a sink meets when JetStream goes away after its first start.
fn stream_then_down(dir: &Path) -> Nats {
    let mut nats = Nats::start(&dir.join("nats"));
    JetStreamSink::start(opts(&nats.url(), "usage"))
        .unwrap()
        .shutdown(Duration::from_secs(1));
    nats.down();
    nats
}

fn opts(url: &str, subject: &str) -> JetStreamOptions {
    let mut o = JetStreamOptions::new(url, subject);
    o.ack_timeout = Duration::from_secs(2);
    o
}

fn spool(dir: &Path, max: u64) -> SpoolOptions {
    SpoolOptions {
        dir: dir.to_path_buf(),
        max_bytes: max,
        segment_bytes: 0,
        fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
    }
}

/// Waits (bounded) until `f` holds.
fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Offers every record, counting refusals (the sink never blocks the caller).
fn offer_all(sink: &JetStreamSink, recs: Vec<DurableRecord>) -> usize {
    recs.into_iter()
        .filter(|r| sink.offer(r.clone()).is_err())
        .count()
}

#[test]
fn hundred_thousand_records_exactly_once() {
    let d = tempdir();
    let nats = Nats::start(&d.path().join("nats"));
    let sink = JetStreamSink::start(opts(&nats.url(), "usage.gw")).expect("start");
    let ids = LocalIds::with("node-a".into(), 4242, 1);
    let recs: Vec<_> = (0..100_000).map(|i| record(&ids, i, i % 10 == 0)).collect();
    let expect: Vec<String> = recs.iter().map(|r| r.id.to_string()).collect();
    let t = Instant::now();
    assert_eq!(offer_all(&sink, recs), 0);
    let stats = sink.stats();
    wait_for("100k acks", Duration::from_secs(30), || {
        stats.acked.load(Ordering::Relaxed) == 100_000
    });
    eprintln!("100k records acked in {:?}", t.elapsed());
    let rep = sink.shutdown(Duration::from_secs(5));
    assert_eq!((rep.acked, rep.spooled, rep.lost), (100_000, 0, 0));
    assert!(stats.published.load(Ordering::Relaxed) >= 100_000);
    assert_exactly_once(&nats.url(), "USAGE_GW", &expect);
    // Records with a topic went to SUBJECT.TOPIC, the others to SUBJECT.
    let got = read_stream(&nats.url(), "USAGE_GW");
    let on_topic = got
        .values()
        .filter(|(_, s)| s == "usage.gw.billing")
        .count();
    let plain = got.values().filter(|(_, s)| s == "usage.gw").count();
    assert_eq!((on_topic, plain), (10_000, 90_000));
}

#[test]
fn nats_restart_mid_run_loses_nothing_and_stores_once() {
    let d = tempdir();
    let mut nats = Nats::start(&d.path().join("nats"));
    let mut o = opts(&nats.url(), "usage");
    o.spool = Some(spool(&d.path().join("spool"), 256 << 20));
    let sink = JetStreamSink::start(o).expect("start");
    let stats = sink.stats();
    let ids = LocalIds::with("node-b".into(), 7, 2);
    let recs: Vec<_> = (0..100_000).map(|i| record(&ids, i, false)).collect();
    let expect: Vec<String> = recs.iter().map(|r| r.id.to_string()).collect();
    let mut it = recs.into_iter();
    // A steady input: 10k records every 100 ms, the server gone for 5 s in between.
    let mut refused = 0;
    for round in 0..10 {
        for r in it.by_ref().take(10_000) {
            refused += sink.offer(r).is_err() as usize;
        }
        if round == 3 {
            nats.down();
            let down = Instant::now();
            for r in it.by_ref().take(20_000) {
                refused += sink.offer(r).is_err() as usize;
            }
            std::thread::sleep(Duration::from_secs(5).saturating_sub(down.elapsed()));
            nats.up();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for r in it {
        refused += sink.offer(r).is_err() as usize;
    }
    assert_eq!(refused, 0);
    wait_for(
        "all acked after the restart",
        Duration::from_secs(30),
        || stats.acked.load(Ordering::Relaxed) == 100_000,
    );
    let rep = sink.shutdown(Duration::from_secs(5));
    assert_eq!((rep.acked, rep.spooled), (100_000, 0));
    assert!(
        stats.spooled.load(Ordering::Relaxed) > 0,
        "the outage went to the spool"
    );
    assert_eq!(stats.spool_records.load(Ordering::Relaxed), 0);
    assert_exactly_once(&nats.url(), "USAGE", &expect);
}

#[test]
fn graceful_sink_restart_while_nats_down_delivers_spool() {
    let d = tempdir();
    let mut nats = stream_then_down(d.path());
    let url = nats.url();
    let mk = || {
        let mut o = opts(&url, "usage");
        o.spool = Some(spool(&d.path().join("spool"), 64 << 20));
        o
    };
    let ids = LocalIds::with("node-c".into(), 9, 3);
    let recs: Vec<_> = (0..20_000).map(|i| record(&ids, i, i % 2 == 0)).collect();
    let expect: Vec<String> = recs.iter().map(|r| r.id.to_string()).collect();
    let sink = JetStreamSink::start(mk()).expect("starts although the server is down");
    assert_eq!(offer_all(&sink, recs), 0);
    let rep = sink.shutdown(Duration::from_secs(2));
    assert_eq!((rep.acked, rep.spooled, rep.lost), (0, 20_000, 0));
    // Restarted, still without a server: the spool is there, nothing goes anywhere.
    let sink = JetStreamSink::start(mk()).unwrap();
    assert_eq!(sink.stats().spool_records.load(Ordering::Relaxed), 20_000);
    std::thread::sleep(Duration::from_millis(300));
    nats.up();
    let stats = sink.stats();
    wait_for("spool replayed", Duration::from_secs(20), || {
        stats.acked.load(Ordering::Relaxed) == 20_000
    });
    assert_eq!(stats.spool_records.load(Ordering::Relaxed), 0);
    drop(sink);
    assert_exactly_once(&nats.url(), "USAGE", &expect);
}

/// Helper process of `killed_sink_while_nats_down_delivers_spool` (runs only with
/// `JS_CHILD_URL` set): spools records for a server that is down, says so, waits to be
/// killed.
#[test]
#[ignore = "helper process, started by killed_sink_while_nats_down_delivers_spool"]
fn child_sink_process() {
    let Ok(url) = std::env::var("JS_CHILD_URL") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("JS_CHILD_SPOOL").unwrap());
    let n: usize = std::env::var("JS_CHILD_N").unwrap().parse().unwrap();
    let mut o = opts(&url, "usage");
    o.spool = Some(spool(&dir, 64 << 20));
    let sink = JetStreamSink::start(o).unwrap();
    let ids = LocalIds::with("node-d".into(), 11, 4);
    let recs: Vec<_> = (0..n).map(|i| record(&ids, i, false)).collect();
    assert_eq!(offer_all(&sink, recs), 0);
    let stats = sink.stats();
    wait_for("spooled", Duration::from_secs(20), || {
        stats.spool_records.load(Ordering::Relaxed) == n as u64
    });
    println!("SPOOLED {n}");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn killed_sink_while_nats_down_delivers_spool() {
    let d = tempdir();
    let mut nats = stream_then_down(d.path());
    let spool_dir = d.path().join("spool");
    let n = 20_000;
    let mut child = Proc(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_sink_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("JS_CHILD_URL", nats.url())
            .env("JS_CHILD_SPOOL", &spool_dir)
            .env("JS_CHILD_N", n.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(d.path().join("child.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            // The harness prints "test child_sink_process ... " before it.
            if let Some(i) = l.find("SPOOLED") {
                let _ = tx.send(l[i..].to_string());
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(25))
        .unwrap_or_else(|_| {
            panic!(
                "child did not spool: {}",
                std::fs::read_to_string(d.path().join("child.log")).unwrap_or_default()
            )
        });
    assert_eq!(line, format!("SPOOLED {n}"));
    child.kill9();
    nats.up();
    let mut o = opts(&nats.url(), "usage");
    o.spool = Some(spool(&spool_dir, 64 << 20));
    let sink = JetStreamSink::start(o).expect("restart on the killed sink's spool");
    let stats = sink.stats();
    wait_for("spool replayed", Duration::from_secs(20), || {
        stats.acked.load(Ordering::Relaxed) == n as u64
    });
    drop(sink);
    let ids = LocalIds::with("node-d".into(), 11, 4);
    let expect: Vec<String> = (0..n).map(|_| ids.next_id().to_string()).collect();
    assert_exactly_once(&nats.url(), "USAGE", &expect);
}

#[test]
fn full_spool_refuses_and_counts() {
    let d = tempdir();
    let mut nats = stream_then_down(d.path());
    let mut o = opts(&nats.url(), "usage");
    o.spool = Some(spool(&d.path().join("spool"), 256 << 10));
    let sink = JetStreamSink::start(o).unwrap();
    let ids = LocalIds::with("node-e".into(), 1, 5);
    let mut kept = Vec::new();
    let mut refused = 0u64;
    for i in 0..10_000 {
        let r = record(&ids, i, false);
        let id = r.id.to_string();
        match sink.offer(r) {
            Ok(()) => kept.push(id),
            Err(e) => {
                assert_eq!(e.reason, RefuseReason::SpoolFull);
                refused += 1;
            }
        }
    }
    let stats = sink.stats();
    assert!(refused > 5_000, "refused {refused}");
    assert_eq!(stats.dropped_spool_full.load(Ordering::Relaxed), refused);
    assert!(stats.spool_bytes.load(Ordering::Relaxed) <= 256 << 10);
    assert!(sink.stats().prometheus().contains(&format!(
        "zmq_adaptor_jetstream_dropped_total{{reason=\"spool_full\"}} {refused}"
    )));
    // What was kept arrives once the server is back.
    nats.up();
    wait_for("kept records acked", Duration::from_secs(20), || {
        stats.acked.load(Ordering::Relaxed) == kept.len() as u64
    });
    drop(sink);
    assert_exactly_once(&nats.url(), "USAGE", &kept);
}

#[test]
fn corrupt_spool_tail_is_skipped_and_counted() {
    let d = tempdir();
    let mut nats = stream_then_down(d.path());
    let spool_dir = d.path().join("spool");
    let url = nats.url();
    let mk = || {
        let mut o = opts(&url, "usage");
        o.spool = Some(spool(&spool_dir, 64 << 20));
        o
    };
    let ids = LocalIds::with("node-f".into(), 2, 6);
    let recs: Vec<_> = (0..1000).map(|i| record(&ids, i, false)).collect();
    let expect: Vec<String> = recs[..999].iter().map(|r| r.id.to_string()).collect();
    let sink = JetStreamSink::start(mk()).unwrap();
    assert_eq!(offer_all(&sink, recs), 0);
    assert_eq!(sink.shutdown(Duration::from_secs(1)).spooled, 1000);
    drop(sink);
    // Tear the last record: cut its last 10 bytes, as a crash mid-write would.
    let seg = std::fs::read_dir(&spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .max()
        .unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    nats.up();
    let sink = JetStreamSink::start(mk()).expect("a torn spool opens");
    let stats = sink.stats();
    assert_eq!(stats.spool_corrupt.load(Ordering::Relaxed), 1);
    assert!(sink
        .stats()
        .prometheus()
        .contains("zmq_adaptor_spool_corrupt_total 1"));
    wait_for("intact records acked", Duration::from_secs(20), || {
        stats.acked.load(Ordering::Relaxed) == 999
    });
    drop(sink);
    assert_exactly_once(&nats.url(), "USAGE", &expect);
}

#[test]
fn bad_url_stream_and_credentials_are_clear_start_errors() {
    let d = tempdir();
    let err = |o: JetStreamOptions| match JetStreamSink::start(o) {
        Ok(_) => panic!("started"),
        Err(e) => e,
    };
    let e = err(opts("nats://127.0.0.1:notaport", "usage"));
    assert!(matches!(e, StartError::Options(_)), "{e}");
    assert!(e.to_string().contains("bad server URL"), "{e}");
    let e = err(opts("nats://127.0.0.1:4222", "usage.*"));
    assert!(e.to_string().contains("not a valid subject"), "{e}");
    let mut o = opts("nats://127.0.0.1:4222", "usage");
    o.creds = Some(d.path().join("missing.creds"));
    let e = err(o);
    assert!(matches!(e, StartError::Credentials(_)), "{e}");
    assert!(e.to_string().contains("missing.creds"), "{e}");

    // A server that wants a user and password refuses a client without them.
    let nats = Nats::start_with(
        &d.path().join("nats"),
        &["--user", "gw", "--pass", "s3cret"],
    );
    let e = err(opts(&nats.url(), "usage"));
    assert!(matches!(e, StartError::Credentials(_)), "{e}");
    assert!(e.to_string().contains("authorization violation"), "{e}");
    let good = format!("nats://gw:s3cret@127.0.0.1:{}", nats.port);
    // No stream and --jetstream-no-create: a clear error, not a silent spool.
    let mut o = opts(&good, "usage");
    o.create_stream = false;
    let e = err(o);
    assert!(matches!(e, StartError::Stream(_)), "{e}");
    assert!(e.to_string().contains("--jetstream-no-create"), "{e}");
    // And with the right user it starts and creates the stream, with its window.
    let mut o = opts(&good, "usage");
    o.duplicate_window = Duration::from_secs(600);
    JetStreamSink::start(o)
        .expect("starts")
        .shutdown(Duration::from_secs(1));
    let window = rt().block_on(async {
        let c = async_nats::ConnectOptions::new()
            .user_and_password("gw".into(), "s3cret".into())
            .connect(nats.url())
            .await
            .unwrap();
        let mut st = async_nats::jetstream::new(c)
            .get_stream("USAGE")
            .await
            .unwrap();
        let info = st.info().await.unwrap();
        assert_eq!(
            info.config.storage,
            async_nats::jetstream::stream::StorageType::File
        );
        assert_eq!(
            info.config.subjects,
            vec!["usage".to_string(), "usage.>".to_string()]
        );
        info.config.duplicate_window
    });
    assert_eq!(window, Duration::from_secs(600));
}

// ---------------------------------------------------------------------------------
// Through the real binaries: zmq-loggen → zmq-adaptor → nats-server
// ---------------------------------------------------------------------------------

const ADAPTOR: &str = env!("CARGO_BIN_EXE_zmq-adaptor");
const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

/// A `zmq-adaptor` with the JetStream sink; stdout/stderr to files in `dir`.
fn adaptor(dir: &Path, listen: &str, publish: &str, nats: &str, extra: &[&str]) -> Proc {
    let log = |n: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(n))
            .unwrap()
    };
    let p = Proc(
        Command::new(ADAPTOR)
            .args(["-b", listen, "-p", publish, "--stats-interval", "0"])
            .args(["--jetstream", nats, "--jetstream-subject", "usage"])
            .args(extra)
            .stdout(log("adaptor.out"))
            .stderr(log("adaptor.err"))
            .spawn()
            .unwrap(),
    );
    let path = listen.trim_start_matches("ipc://").to_string();
    wait_for("adaptor listening", Duration::from_secs(10), || {
        Path::new(&path).exists()
    });
    p
}

fn loggen(listen: &str, n: usize, prefix: &str, extra: &[&str]) -> String {
    let out = Command::new(LOGGEN)
        .args(["-e", listen, "-n", &n.to_string(), "--prefix", prefix])
        .args(["--queue-records", "200000", "--flush-ms", "20000"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stream_messages(url: &str, stream: &str) -> u64 {
    rt().block_on(async {
        let Ok(client) = async_nats::connect(url).await else {
            return 0;
        };
        let js = async_nats::jetstream::new(client);
        match js.get_stream(stream).await {
            Ok(mut st) => st.info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        }
    })
}

/// The stream holds exactly the records `prefix-0000000 ..` (n of them), once each.
fn assert_bodies_exactly_once(url: &str, n: usize, prefix: &str) {
    wait_for("records in the stream", Duration::from_secs(30), || {
        stream_messages(url, "USAGE") >= n as u64
    });
    std::thread::sleep(Duration::from_millis(300));
    let got = read_stream_bodies(url, "USAGE");
    assert_eq!(
        got.values().filter(|(c, ..)| *c > 1).count(),
        0,
        "duplicate ids"
    );
    assert_eq!(got.len(), n, "one message per record");
    let mut bodies: Vec<Vec<u8>> = got.into_values().map(|(_, _, b)| b).collect();
    bodies.sort();
    let want: Vec<Vec<u8>> = (0..n).map(|i| rec(prefix, i)).collect();
    assert!(
        bodies == want,
        "the stream holds exactly the records logged"
    );
}

#[test]
fn adaptor_alone_hands_100k_records_to_jetstream_exactly_once() {
    let d = tempdir();
    let nats = Nats::start(&d.path().join("nats"));
    let listen = ipc(d.path(), "listen");
    let spool_dir = d.path().join("spool");
    let mut a = adaptor(
        d.path(),
        &listen,
        "none",
        &nats.url(),
        &[
            "--spool",
            spool_dir.to_str().unwrap(),
            "--spool-max-bytes",
            "512M",
        ],
    );
    let out = loggen(&listen, 100_000, "e2e", &[]);
    assert!(out.contains("sent=100000"), "{out}");
    assert_bodies_exactly_once(&nats.url(), 100_000, "e2e");
    assert_eq!(a.term(Duration::from_secs(10)), Some(0), "SIGTERM: exit 0");
    let out = std::fs::read_to_string(d.path().join("adaptor.out")).unwrap();
    assert!(
        out.contains("jetstream: stopped: acked=100000 spooled=0 lost=0"),
        "{out}"
    );
    let err = std::fs::read_to_string(d.path().join("adaptor.err")).unwrap();
    assert!(
        err.contains("received=100000 forwarded=100000 undelivered=0"),
        "{err}"
    );
}

#[test]
fn adaptor_feeds_zeromq_consumers_and_jetstream_alike() {
    let d = tempdir();
    let nats = Nats::start(&d.path().join("nats"));
    let listen = ipc(d.path(), "listen");
    let publish = ipc(d.path(), "publish");
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let mut a = adaptor(
        d.path(),
        &listen,
        &publish,
        &nats.url(),
        &["--metrics", &metrics],
    );
    let sub = Sub::connect(&publish, b"");
    wait_for("consumer subscribed", Duration::from_secs(10), || {
        sub.count() > 0 || {
            // A warm-up record makes the subscription visible.
            let _ = Command::new(LOGGEN)
                .args([
                    "-e",
                    &listen,
                    "-n",
                    "1",
                    "--prefix",
                    "warm",
                    "--flush-ms",
                    "2000",
                ])
                .output();
            sub.count() > 0
        }
    });
    let warm = sub.count();
    let n = 10_000;
    let out = loggen(&listen, n, "both", &["--topic", "billing"]);
    assert!(out.contains(&format!("sent={n}")), "{out}");
    let got = sub.collect(warm + n, Duration::from_secs(3), Duration::from_secs(30));
    assert_eq!(got.len(), warm + n, "the ZeroMQ consumer got every record");
    let total = warm + n;
    wait_for("records in the stream", Duration::from_secs(30), || {
        stream_messages(&nats.url(), "USAGE") >= total as u64
    });
    let js = read_stream_bodies(&nats.url(), "USAGE");
    assert_eq!(js.len(), total);
    assert_eq!(js.values().filter(|(c, ..)| *c > 1).count(), 0);
    let on_topic = js
        .values()
        .filter(|(_, s, b)| s == "usage.billing" && b.starts_with(b"both-"))
        .count();
    assert_eq!(on_topic, n, "records with a topic on SUBJECT.TOPIC");
    // The sink's counters on /metrics.
    let body = http_get(port, "/metrics");
    assert!(
        body.contains(&format!("zmq_adaptor_jetstream_acked_total {total}")),
        "{body}"
    );
    assert!(body.contains("zmq_adaptor_spool_records 0"), "{body}");
    assert!(
        body.contains("zmq_adaptor_jetstream_dropped_total{reason=\"spool_full\"} 0"),
        "{body}"
    );
    assert_eq!(a.term(Duration::from_secs(10)), Some(0));
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn adaptor_killed_or_stopped_while_nats_down_keeps_records_in_the_spool() {
    let d = tempdir();
    let mut nats = stream_then_down(d.path());
    let listen = ipc(d.path(), "listen");
    let spool_dir = d.path().join("spool");
    let spool_arg = ["--spool", spool_dir.to_str().unwrap()];
    // Graceful stop with the server down: what was taken is in the spool.
    let mut a = adaptor(d.path(), &listen, "none", &nats.url(), &spool_arg);
    let out = loggen(&listen, 10_000, "term", &[]);
    assert!(out.contains("sent=10000"), "{out}");
    assert_eq!(a.term(Duration::from_secs(10)), Some(0));
    let out = std::fs::read_to_string(d.path().join("adaptor.out")).unwrap();
    assert!(
        out.contains("jetstream: stopped: acked=0 spooled=10000 lost=0"),
        "{out}"
    );
    // kill -9 with the server down: records acknowledged to the worker are in the spool.
    let mut a = adaptor(d.path(), &listen, "none", &nats.url(), &spool_arg);
    let out = loggen(&listen, 10_000, "kill", &[]);
    assert!(out.contains("sent=10000"), "{out}");
    a.kill9();
    // Both back: everything arrives, once.
    nats.up();
    let mut a = adaptor(d.path(), &listen, "none", &nats.url(), &spool_arg);
    wait_for(
        "both batches in the stream",
        Duration::from_secs(30),
        || stream_messages(&nats.url(), "USAGE") >= 20_000,
    );
    std::thread::sleep(Duration::from_millis(300));
    let got = read_stream_bodies(&nats.url(), "USAGE");
    assert_eq!(got.len(), 20_000);
    let mut bodies: Vec<Vec<u8>> = got.into_values().map(|(_, _, b)| b).collect();
    bodies.sort();
    let mut want: Vec<Vec<u8>> = (0..10_000)
        .map(|i| rec("kill", i))
        .chain((0..10_000).map(|i| rec("term", i)))
        .collect();
    want.sort();
    assert!(bodies == want, "every record once");
    assert_eq!(a.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn adaptor_start_errors_exit_2_with_a_clear_line() {
    let d = tempdir();
    let listen = ipc(d.path(), "listen");
    let run = |args: &[&str]| {
        let o = Command::new(ADAPTOR)
            .args(["-b", &listen, "--stats-interval", "0"])
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["-p", "none"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("-p none needs --jetstream"), "{err}");
    let (code, err) = run(&[
        "--jetstream",
        "nats://127.0.0.1:notaport",
        "--jetstream-subject",
        "u",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("jetstream: bad server URL"), "{err}");
    let (code, err) = run(&["--jetstream", "nats://127.0.0.1:4222"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--jetstream-subject"), "{err}");
    let (code, err) = run(&[
        "--jetstream",
        "nats://127.0.0.1:4222",
        "--jetstream-subject",
        "u",
        "--jetstream-creds",
        "/nonexistent/gw.creds",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("credentials: /nonexistent/gw.creds"), "{err}");
    let bad = d.path().join("gw.creds");
    std::fs::write(&bad, "not a credentials file\n").unwrap();
    let (code, err) = run(&[
        "--jetstream",
        "nats://127.0.0.1:4222",
        "--jetstream-subject",
        "u",
        "--jetstream-creds",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot parse user JWT"), "{err}");
}

#[test]
fn stream_deleted_while_running_is_made_again() {
    let d = tempdir();
    let nats = Nats::start(&d.path().join("nats"));
    let sink = JetStreamSink::start(opts(&nats.url(), "usage")).unwrap();
    let stats = sink.stats();
    let ids = LocalIds::with("node-g".into(), 3, 7);
    assert_eq!(
        offer_all(&sink, (0..1000).map(|i| record(&ids, i, false)).collect()),
        0
    );
    wait_for("first acks", Duration::from_secs(10), || {
        stats.acked.load(Ordering::Relaxed) == 1000
    });
    rt().block_on(async {
        let c = async_nats::connect(nats.url()).await.unwrap();
        async_nats::jetstream::new(c)
            .delete_stream("USAGE")
            .await
            .unwrap();
    });
    let recs: Vec<_> = (0..1000).map(|i| record(&ids, i, false)).collect();
    let expect: Vec<String> = recs.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(offer_all(&sink, recs), 0);
    wait_for(
        "acks after the stream came back",
        Duration::from_secs(20),
        || stats.acked.load(Ordering::Relaxed) == 2000,
    );
    assert!(stats.retries.load(Ordering::Relaxed) > 0);
    drop(sink);
    assert_exactly_once(&nats.url(), "USAGE", &expect);
}

#[test]
fn adaptor_with_spool_all_killed_while_publishing_loses_nothing() {
    let d = tempdir();
    let nats = Nats::start(&d.path().join("nats"));
    let listen = ipc(d.path(), "listen");
    let spool_dir = d.path().join("spool");
    let args = ["--spool", spool_dir.to_str().unwrap(), "--spool-all"];
    let mut a = adaptor(d.path(), &listen, "none", &nats.url(), &args);
    let n = 50_000;
    let out = loggen(&listen, n, "wal", &[]);
    assert!(out.contains(&format!("sent={n}")), "{out}");
    // Every record is acknowledged to the worker; many are not yet in the stream.
    let before = stream_messages(&nats.url(), "USAGE");
    a.kill9();
    eprintln!("in the stream at kill -9: {before} of {n}");
    let mut a = adaptor(d.path(), &listen, "none", &nats.url(), &args);
    assert_bodies_exactly_once(&nats.url(), n, "wal");
    assert_eq!(a.term(Duration::from_secs(10)), Some(0));
}

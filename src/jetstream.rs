//! The NATS JetStream sink of the `zmq-adaptor` binary (feature `jetstream`).
//! Compiled into the binary (and its tests) with `#[path]`, never into the library:
//! the cdylib links neither async-nats nor tokio.
//!
//! [`JetStreamSink::start`] connects (async-nats, on a tokio runtime in its own
//! thread), makes sure the stream exists, and returns a [`DurableSink`]:
//!
//! * [`DurableSink::offer`] never waits for the network: it puts the record into a
//!   bounded in-memory queue, or — when that queue is full, when JetStream is
//!   unreachable, or while older records wait in the spool — appends it to the spool
//!   (one `write`). A full spool refuses the record and counts it (`spool_full`).
//! * The worker publishes each record on `SUBJECT` (`SUBJECT.TOPIC` when it has a
//!   topic) with header `Nats-Msg-Id` = the record id, keeps up to `max_in_flight`
//!   acknowledgements pending (pipelined), and counts a record as acknowledged only
//!   when JetStream acked it. A failed or timed-out publish is retried with backoff
//!   (from the spool); the server's dedup window drops a retry of a record it has.
//! * Order: records leave in the order they were offered, except that a record
//!   whose publish failed is retried after those offered before the failure.

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, stream};
use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use futures_util::FutureExt;
use std::collections::VecDeque;
use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use zmq_adaptor::durable::{
    DurableRecord, DurableSink, RecordId, RefuseReason, Refused, ShutdownReport, SinkStats,
};
use zmq_adaptor::spool::{parse_size, AppendError, FsyncPolicy, Pos, Spool, SpoolOptions};

/// Settings of the JetStream sink (`--jetstream*`, `--spool*` flags).
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// Server URL(s), comma-separated (`nats://host:4222`).
    pub url: String,
    /// Base subject; records with a topic go to `SUBJECT.TOPIC`.
    pub subject: String,
    /// Stream name (default: the subject, upper-cased, `.` → `_`).
    pub stream: Option<String>,
    /// NATS credentials file (JWT + nkey seed).
    pub creds: Option<PathBuf>,
    /// Create the stream when it is missing (file storage, `SUBJECT` and `SUBJECT.>`).
    pub create_stream: bool,
    /// Duplicate window of a created stream (at least 2 minutes).
    pub duplicate_window: Duration,
    /// The disk spool; without one, a bounded in-memory backlog is used (lost on exit).
    pub spool: Option<SpoolOptions>,
    /// Write every record to the spool first (write-ahead) and publish from there:
    /// a crash or kill -9 of the adaptor loses no record it took, at one `write` per
    /// record. Only with a spool.
    pub spool_all: bool,
    /// Bound of the in-memory backlog used without a spool.
    pub memory_backlog_bytes: u64,
    /// Publish acknowledgements pending at most.
    pub max_in_flight: usize,
    /// Records the in-memory queue between `offer` and the worker holds.
    pub queue_records: usize,
    /// Time for a publish acknowledgement before the publish is retried.
    pub ack_timeout: Duration,
    /// Time for the first connection attempt at start.
    pub connect_timeout: Duration,
}

impl JetStreamOptions {
    /// Defaults: create the stream, 2 min dedup window, 1024 in flight, no spool.
    pub fn new(url: impl Into<String>, subject: impl Into<String>) -> JetStreamOptions {
        JetStreamOptions {
            url: url.into(),
            subject: subject.into(),
            stream: None,
            creds: None,
            create_stream: true,
            duplicate_window: Duration::from_secs(120),
            spool: None,
            spool_all: false,
            memory_backlog_bytes: 64 << 20,
            max_in_flight: 1024,
            queue_records: 8192,
            ack_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }

    /// The stream name in use.
    pub fn stream_name(&self) -> String {
        self.stream
            .clone()
            .unwrap_or_else(|| stream_name_for(&self.subject))
    }
}

/// The `zmq-adaptor` flags of the JetStream sink and its spool (flattened into the
/// binary's command line).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct JetStreamArgs {
    /// NATS server URL(s) (comma-separated; `nats://user:pass@host:4222` accepted):
    /// every record is also published to JetStream.
    #[arg(long = "jetstream", value_name = "URL", requires = "jetstream_subject")]
    pub jetstream: Option<String>,
    /// Subject records are published on; records with a topic go to SUBJECT.TOPIC.
    #[arg(long, value_name = "SUBJECT", requires = "jetstream")]
    pub jetstream_subject: Option<String>,
    /// Stream name (default: the subject upper-cased, '.' → '_').
    #[arg(long, value_name = "NAME", requires = "jetstream")]
    pub jetstream_stream: Option<String>,
    /// NATS credentials file (JWT + nkey seed).
    #[arg(long, value_name = "FILE", requires = "jetstream")]
    pub jetstream_creds: Option<PathBuf>,
    /// Do not create the stream when it is missing (fail at start instead).
    #[arg(long, requires = "jetstream")]
    pub jetstream_no_create: bool,
    /// Duplicate window of a stream the adaptor creates (at least 2m): retries within
    /// it are dropped by JetStream. Make it longer than the outages to ride out.
    #[arg(long, value_name = "DURATION", value_parser = parse_window, requires = "jetstream")]
    pub jetstream_duplicate_window: Option<Duration>,
    /// Directory of the disk spool, where records wait while JetStream is unreachable
    /// or slower than the input (kept across restarts). Without it, a 64 MiB memory
    /// backlog is used and lost on exit.
    #[arg(long, value_name = "DIR", requires = "jetstream")]
    pub spool: Option<PathBuf>,
    /// Bound of the spool (or memory backlog) in bytes: 512M, 4G, …; records past it
    /// are dropped and counted (reason spool_full).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "jetstream")]
    pub spool_max_bytes: Option<u64>,
    /// When the spool is forced to disk: always (every record), interval (every
    /// 100 ms; interval:DURATION), never (kernel writeback).
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "interval",
        requires = "spool"
    )]
    pub spool_fsync: FsyncPolicy,
    /// Write every record to the spool before publishing it (write-ahead), not only
    /// when JetStream is unreachable or slow: a crash or kill -9 of the adaptor then
    /// loses no record it took (about 1.5 µs more per record).
    #[arg(long, requires = "spool")]
    pub spool_all: bool,
}

impl JetStreamArgs {
    /// The sink's options, or `None` without `--jetstream`.
    pub fn options(&self) -> Option<JetStreamOptions> {
        let url = self.jetstream.clone()?;
        let mut o = JetStreamOptions::new(url, self.jetstream_subject.clone().unwrap_or_default());
        o.stream = self.jetstream_stream.clone();
        o.creds = self.jetstream_creds.clone();
        o.create_stream = !self.jetstream_no_create;
        if let Some(w) = self.jetstream_duplicate_window {
            o.duplicate_window = w;
        }
        if let Some(max) = self.spool_max_bytes {
            o.memory_backlog_bytes = max;
        }
        o.spool_all = self.spool_all;
        o.spool = self.spool.as_ref().map(|d| {
            let mut so = SpoolOptions::new(d);
            if let Some(max) = self.spool_max_bytes {
                so.max_bytes = max;
            }
            so.fsync = self.spool_fsync;
            so
        });
        Some(o)
    }
}

fn parse_window(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("'{s}': {e}"))?;
    if d < Duration::from_secs(120) {
        return Err(format!("'{s}': the duplicate window must be at least 2m"));
    }
    Ok(d)
}

/// Why the sink did not start; each message names what to fix.
#[derive(Debug)]
pub enum StartError {
    /// Bad subject, stream name or URL.
    Options(String),
    /// The credentials file could not be used, or the server refused them.
    Credentials(String),
    /// The server could not be reached in a way a retry will not fix (DNS, TLS).
    Connect(String),
    /// The stream is missing (with `--jetstream-no-create`) or could not be made.
    Stream(String),
    /// The spool directory could not be opened.
    Spool(io::Error),
    /// The runtime or its thread could not start.
    Runtime(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Options(m) => write!(f, "jetstream: {m}"),
            StartError::Credentials(m) => write!(f, "jetstream: credentials: {m}"),
            StartError::Connect(m) => write!(f, "jetstream: cannot connect: {m}"),
            StartError::Stream(m) => write!(f, "jetstream: stream: {m}"),
            StartError::Spool(e) => write!(f, "spool: {e}"),
            StartError::Runtime(e) => write!(f, "jetstream: runtime: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Default stream name for a subject: upper-cased, characters a stream name may not
/// hold (`.`, `*`, `>`, `/`, `\`, whitespace) replaced by `_`.
pub fn stream_name_for(subject: &str) -> String {
    subject
        .chars()
        .map(|c| match c {
            '.' | '*' | '>' | '/' | '\\' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// A topic as one subject token: bytes outside printable ASCII and `.`, `*`, `>`
/// become `_`; an empty topic gives an empty token (meaning: no suffix).
pub fn topic_token(topic: &[u8]) -> String {
    topic
        .iter()
        .map(|&b| match b {
            b'.' | b'*' | b'>' => '_',
            0x21..=0x7e => b as char,
            _ => '_',
        })
        .collect()
}

/// The subject of a record: `base`, or `base.TOKEN` when it has a non-empty topic.
pub fn subject_for(base: &str, topic: Option<&[u8]>) -> String {
    match topic {
        Some(t) if !t.is_empty() => format!("{base}.{}", topic_token(t)),
        _ => base.to_string(),
    }
}

fn check_subject(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.split('.').all(|t| {
            !t.is_empty()
                && t != "*"
                && t != ">"
                && t.bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'*' && b != b'>')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not a valid subject (dot-separated tokens of printable characters, no wildcards)"
        ))
    }
}

/// Records waiting for JetStream: the disk spool, or a bounded memory queue.
enum Backlog {
    Disk(Box<Spool>),
    Memory {
        q: VecDeque<DurableRecord>,
        read: usize,
        bytes: u64,
        max: u64,
    },
}

fn rec_bytes(r: &DurableRecord) -> u64 {
    (r.body.len() + r.topic.as_ref().map_or(0, |t| t.len()) + r.id.node.len() + 64) as u64
}

impl Backlog {
    fn append(&mut self, rec: &DurableRecord) -> Result<(), AppendError> {
        match self {
            Backlog::Disk(s) => s.append(rec),
            Backlog::Memory { q, bytes, max, .. } => {
                let n = rec_bytes(rec);
                if *bytes + n > *max {
                    return Err(AppendError::Full);
                }
                *bytes += n;
                q.push_back(rec.clone());
                Ok(())
            }
        }
    }

    fn next(&mut self) -> io::Result<Option<(DurableRecord, Pos)>> {
        match self {
            Backlog::Disk(s) => s.read_next(),
            Backlog::Memory { q, read, .. } => {
                let r = q.get(*read).cloned();
                *read += r.is_some() as usize;
                Ok(r.map(|r| {
                    (
                        r,
                        Pos {
                            seg: 0,
                            off: *read as u64,
                        },
                    )
                }))
            }
        }
    }

    fn ack(&mut self, pos: Pos) -> io::Result<()> {
        match self {
            Backlog::Disk(s) => s.ack(pos),
            Backlog::Memory { q, read, bytes, .. } => {
                // Acks come in order: the front record is the acknowledged one.
                if let Some(r) = q.pop_front() {
                    *bytes -= rec_bytes(&r);
                    *read = read.saturating_sub(1);
                }
                Ok(())
            }
        }
    }

    fn rewind(&mut self) {
        match self {
            Backlog::Disk(s) => s.rewind(),
            Backlog::Memory { read, .. } => *read = 0,
        }
    }

    fn unread(&self) -> u64 {
        match self {
            Backlog::Disk(s) => s.unread(),
            Backlog::Memory { q, read, .. } => (q.len() - *read) as u64,
        }
    }

    fn records(&self) -> u64 {
        match self {
            Backlog::Disk(s) => s.records(),
            Backlog::Memory { q, .. } => q.len() as u64,
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            Backlog::Disk(s) => s.bytes(),
            Backlog::Memory { bytes, .. } => *bytes,
        }
    }

    fn tick(&mut self) -> io::Result<()> {
        match self {
            Backlog::Disk(s) => s.tick(),
            Backlog::Memory { .. } => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        match self {
            Backlog::Disk(s) => s.sync(),
            Backlog::Memory { .. } => Ok(()),
        }
    }
}

struct Shared {
    stats: Arc<SinkStats>,
    backlog: Mutex<Backlog>,
    /// Set while records wait in the backlog: new records queue up behind them.
    spilling: AtomicBool,
    connected: AtomicBool,
    closed: AtomicBool,
    wake: Notify,
    disk: bool,
    /// Write-ahead: every record goes through the spool.
    spool_all: bool,
}

impl Shared {
    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn gauges(&self, b: &Backlog) {
        self.stats.spool_bytes.store(b.bytes(), Ordering::Relaxed);
        self.stats
            .spool_records
            .store(b.records(), Ordering::Relaxed);
        if let Backlog::Disk(s) = b {
            self.stats
                .spool_corrupt
                .store(s.corrupt(), Ordering::Relaxed);
        }
    }

    /// Appends to the backlog (lock held by the caller), counting the outcome.
    fn spill(&self, b: &mut Backlog, rec: DurableRecord) -> Result<(), Refused> {
        self.spilling.store(true, Ordering::Release);
        let r = b.append(&rec);
        self.gauges(b);
        match r {
            Ok(()) => {
                self.stats.spooled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats
                    .dropped_spool_full
                    .fetch_add(1, Ordering::Relaxed);
                if let AppendError::Io(e) = &e {
                    eprintln!("zmq-adaptor: spool: write failed, record dropped: {e}");
                }
                Err(Refused {
                    reason: RefuseReason::SpoolFull,
                    record: rec,
                })
            }
        }
    }
}

/// The JetStream sink (see the module documentation).
pub struct JetStreamSink {
    shared: Arc<Shared>,
    tx: mpsc::Sender<DurableRecord>,
    stop: watch::Sender<Option<Instant>>,
    thread: Mutex<Option<JoinHandle<ShutdownReport>>>,
    report: Mutex<Option<ShutdownReport>>,
}

impl fmt::Debug for JetStreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSink")
            .field("stats", &self.shared.stats)
            .finish()
    }
}

fn connect_options(
    opts: &JetStreamOptions,
    shared: Option<Arc<Shared>>,
) -> BoxFuture<'static, Result<ConnectOptions, StartError>> {
    let creds = opts.creds.clone();
    let timeout = opts.connect_timeout;
    let url = opts.url.clone();
    async move {
        let mut o = match &creds {
            Some(p) => ConnectOptions::with_credentials_file(p.clone())
                .await
                .map_err(|e| StartError::Credentials(format!("{}: {e}", p.display())))?,
            None => ConnectOptions::new(),
        };
        if let Some((user, pass)) = url_userinfo(&url) {
            o = match pass {
                Some(pass) => o.user_and_password(user, pass),
                None => o.token(user),
            };
        }
        o = o
            .name("zmq-adaptor")
            .connection_timeout(timeout)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((50u64 << attempts.min(5)).min(1000))
            });
        if let Some(shared) = shared {
            o = o.event_callback(move |ev| {
                let shared = shared.clone();
                async move {
                    match ev {
                        Event::Connected => {
                            shared.connected.store(true, Ordering::Release);
                            shared.stats.connected.store(1, Ordering::Relaxed);
                            eprintln!("zmq-adaptor: jetstream: connected");
                        }
                        Event::Disconnected => {
                            shared.connected.store(false, Ordering::Release);
                            shared.stats.connected.store(0, Ordering::Relaxed);
                            eprintln!("zmq-adaptor: jetstream: disconnected, spooling");
                        }
                        Event::ServerError(e) => {
                            eprintln!("zmq-adaptor: jetstream: server error: {e}")
                        }
                        _ => {}
                    }
                    shared.wake.notify_one();
                }
            });
        }
        Ok(o)
    }
    .boxed()
}

/// `user[:password]@` of the first URL that has one (`nats://user:pass@host:4222`);
/// a user without a password is a token.
fn url_userinfo(urls: &str) -> Option<(String, Option<String>)> {
    urls.split(',').find_map(|u| {
        let rest = u.trim().split_once("://").map_or(u.trim(), |(_, r)| r);
        let authority = rest.split('/').next()?;
        let (info, _) = authority.rsplit_once('@')?;
        match info.split_once(':') {
            Some((user, pass)) => Some((user.to_string(), Some(pass.to_string()))),
            None => Some((info.to_string(), None)),
        }
    })
}

async fn ensure_stream(ctx: &jetstream::Context, opts: &JetStreamOptions) -> Result<(), String> {
    let name = opts.stream_name();
    match ctx.get_stream(&name).await {
        Ok(mut s) => {
            let info = s.info().await.map_err(|e| format!("'{name}': {e}"))?;
            let subj = &opts.subject;
            let covers = info
                .config
                .subjects
                .iter()
                .any(|x| x == subj || x == &format!("{subj}.>") || x == ">");
            if !covers {
                eprintln!(
                    "zmq-adaptor: jetstream: stream '{name}' subjects {:?} may not cover '{subj}'",
                    info.config.subjects
                );
            }
            if info.config.duplicate_window < Duration::from_secs(120) {
                eprintln!(
                    "zmq-adaptor: jetstream: stream '{name}' has a duplicate window of {:?}; \
                     retries later than that may be stored twice",
                    info.config.duplicate_window
                );
            }
            Ok(())
        }
        Err(e) if !opts.create_stream => Err(format!(
            "'{name}' not found ({e}) and --jetstream-no-create given"
        )),
        Err(_) => ctx
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![opts.subject.clone(), format!("{}.>", opts.subject)],
                storage: stream::StorageType::File,
                duplicate_window: opts.duplicate_window.max(Duration::from_secs(120)),
                ..Default::default()
            })
            .await
            .map(|_| eprintln!("zmq-adaptor: jetstream: created stream '{name}'"))
            .map_err(|e| format!("cannot create '{name}': {e}")),
    }
}

impl JetStreamSink {
    /// Starts the sink. Fails with a clear [`StartError`] on a bad URL, subject or
    /// stream name, an unusable credentials file, credentials the server refuses, a
    /// missing stream with `create_stream = false`, or an unusable spool. A server
    /// that is merely unreachable is not an error: records are spooled and the sink
    /// connects when it can.
    pub fn start(opts: JetStreamOptions) -> Result<JetStreamSink, StartError> {
        check_subject(&opts.subject).map_err(StartError::Options)?;
        let name = opts.stream_name();
        if name.is_empty()
            || name
                .chars()
                .any(|c| ".*>/\\".contains(c) || c.is_whitespace())
        {
            return Err(StartError::Options(format!(
                "'{name}' is not a valid stream name"
            )));
        }
        if opts.url.trim().is_empty() {
            return Err(StartError::Options("empty server URL".into()));
        }
        let stats = Arc::new(SinkStats::default());
        let backlog = match &opts.spool {
            Some(so) => {
                let (spool, rec) = Spool::open(so.clone()).map_err(StartError::Spool)?;
                if rec.records > 0 || rec.corrupt > 0 {
                    eprintln!(
                        "zmq-adaptor: spool: {} records to replay in {}{}",
                        rec.records,
                        so.dir.display(),
                        if rec.corrupt > 0 {
                            format!(
                                "; skipped {} corrupt tail(s), {} bytes",
                                rec.corrupt, rec.corrupt_bytes
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                Backlog::Disk(Box::new(spool))
            }
            None => Backlog::Memory {
                q: VecDeque::new(),
                read: 0,
                bytes: 0,
                max: opts.memory_backlog_bytes,
            },
        };
        let pending = backlog.records() > 0;
        let shared = Arc::new(Shared {
            stats,
            spilling: AtomicBool::new(pending),
            disk: matches!(backlog, Backlog::Disk(_)),
            spool_all: opts.spool_all && matches!(backlog, Backlog::Disk(_)),
            backlog: Mutex::new(backlog),
            connected: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
        });
        shared.gauges(&shared.backlog());

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let (client, stream_ready) = rt.block_on(async {
            let probe = connect_options(&opts, Some(shared.clone())).await?;
            match probe.connect(opts.url.as_str()).await {
                Ok(client) => {
                    shared.connected.store(true, Ordering::Release);
                    shared.stats.connected.store(1, Ordering::Relaxed);
                    let ctx = context(client.clone(), &opts);
                    ensure_stream(&ctx, &opts)
                        .await
                        .map_err(StartError::Stream)?;
                    Ok((client, true))
                }
                Err(e) => match e.kind() {
                    ConnectErrorKind::ServerParse => Err(StartError::Options(format!(
                        "bad server URL '{}': {e}",
                        opts.url
                    ))),
                    ConnectErrorKind::Dns => Err(StartError::Connect(format!(
                        "'{}': cannot resolve host: {e}",
                        opts.url
                    ))),
                    ConnectErrorKind::Authentication
                    | ConnectErrorKind::AuthorizationViolation => {
                        Err(StartError::Credentials(format!(
                            "refused by '{}': {e}",
                            opts.url
                        )))
                    }
                    ConnectErrorKind::Tls => {
                        Err(StartError::Connect(format!("'{}': {e}", opts.url)))
                    }
                    _ => {
                        eprintln!(
                            "zmq-adaptor: jetstream: '{}' unreachable ({e}); spooling, will keep trying",
                            opts.url
                        );
                        let o = connect_options(&opts, Some(shared.clone()))
                            .await?
                            .retry_on_initial_connect();
                        let client = o
                            .connect(opts.url.as_str())
                            .await
                            .map_err(|e| StartError::Connect(format!("'{}': {e}", opts.url)))?;
                        Ok((client, false))
                    }
                },
            }
        })?;
        let ctx = {
            let _in_runtime = rt.enter();
            context(client, &opts)
        };
        let (tx, rx) = mpsc::channel(opts.queue_records.max(1));
        let (stop, stop_rx) = watch::channel(None);
        let worker = Worker {
            shared: shared.clone(),
            ctx,
            rx,
            rx_open: true,
            subject: opts.subject.clone(),
            stream_ready,
            inflight: FuturesOrdered::new(),
            srcs: VecDeque::new(),
            failed: false,
            retry_at: Instant::now(),
            backoff: MIN_BACKOFF,
            pending: None,
            last_error: None,
            opts,
        };
        let thread = std::thread::Builder::new()
            .name("zmq-jetstream".into())
            .spawn(move || rt.block_on(worker.run(stop_rx)))
            .map_err(StartError::Runtime)?;
        Ok(JetStreamSink {
            shared,
            tx,
            stop,
            thread: Mutex::new(Some(thread)),
            report: Mutex::new(None),
        })
    }

    fn shutdown_now(&self, timeout: Duration) -> ShutdownReport {
        self.shared.closed.store(true, Ordering::Release);
        let _ = self.stop.send(Some(Instant::now() + timeout));
        self.shared.wake.notify_one();
        let mut report = self.report.lock().unwrap_or_else(|p| p.into_inner());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            *report = Some(t.join().unwrap_or_default());
        }
        report.unwrap_or_default()
    }
}

fn context(client: async_nats::Client, opts: &JetStreamOptions) -> jetstream::Context {
    jetstream::context::ContextBuilder::new()
        .timeout(opts.ack_timeout)
        .max_ack_inflight(opts.max_in_flight.max(1) * 2)
        .build(client)
}

impl DurableSink for JetStreamSink {
    fn offer(&self, rec: DurableRecord) -> Result<(), Refused> {
        let sh = &self.shared;
        sh.stats.offered.fetch_add(1, Ordering::Relaxed);
        if sh.closed.load(Ordering::Acquire) {
            return Err(Refused {
                reason: RefuseReason::Closed,
                record: rec,
            });
        }
        let mut rec = rec;
        if !sh.spool_all
            && !sh.spilling.load(Ordering::Acquire)
            && sh.connected.load(Ordering::Acquire)
        {
            match self.tx.try_send(rec) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(r)) => rec = r,
                Err(mpsc::error::TrySendError::Closed(r)) => {
                    return Err(Refused {
                        reason: RefuseReason::Closed,
                        record: r,
                    })
                }
            }
        }
        let r = sh.spill(&mut sh.backlog(), rec);
        sh.wake.notify_one();
        r
    }

    fn stats(&self) -> Arc<SinkStats> {
        self.shared.stats.clone()
    }

    fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.shutdown_now(timeout)
    }
}

impl Drop for JetStreamSink {
    fn drop(&mut self) {
        self.shutdown_now(Duration::ZERO);
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where an in-flight record came from: the queue (kept, to spool it on failure) or
/// the backlog (replayed from there on failure).
enum Src {
    Queue(RecordId, Option<Vec<u8>>, bytes::Bytes),
    Backlog(Pos),
}

type Ack = Result<PublishAck, PublishError>;

struct Worker {
    shared: Arc<Shared>,
    ctx: jetstream::Context,
    rx: mpsc::Receiver<DurableRecord>,
    rx_open: bool,
    subject: String,
    stream_ready: bool,
    /// Pending acknowledgements, in publish order, and where each record came from.
    inflight: FuturesOrdered<BoxFuture<'static, Ack>>,
    srcs: VecDeque<Src>,
    /// A publish failed in this round: no new publishes until in-flight ones are done.
    failed: bool,
    retry_at: Instant,
    backoff: Duration,
    pending: Option<DurableRecord>,
    last_error: Option<(String, Instant)>,
    opts: JetStreamOptions,
}

impl Worker {
    fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    fn can_publish(&self) -> bool {
        self.stream_ready
            && self.connected()
            && !self.failed
            && self.inflight.len() < self.opts.max_in_flight
            && Instant::now() >= self.retry_at
    }

    fn log_error(&mut self, what: String) {
        let now = Instant::now();
        let quiet = matches!(&self.last_error, Some((m, t)) if *m == what && now.duration_since(*t) < Duration::from_secs(10));
        if !quiet {
            eprintln!("zmq-adaptor: jetstream: {what}");
            self.last_error = Some((what, now));
        }
    }

    async fn run(mut self, mut stop: watch::Receiver<Option<Instant>>) -> ShutdownReport {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = *stop.borrow();
            if let Some(d) = deadline {
                if self.idle() || Instant::now() >= d || !self.connected() {
                    break;
                }
            }
            if self.failed && self.inflight.is_empty() && Instant::now() >= self.retry_at {
                let mut b = self.shared.backlog();
                b.rewind();
                if b.unread() > 0 {
                    self.shared.spilling.store(true, Ordering::Release);
                }
                drop(b);
                self.failed = false;
            }
            self.fill().await;
            let room = self.pending.is_none() && self.rx_open && self.can_publish();
            tokio::select! {
                biased;
                Some(res) = self.inflight.next(), if !self.inflight.is_empty() => {
                    let src = self.srcs.pop_front().expect("source of an in-flight record");
                    self.complete(src, res);
                }
                r = self.rx.recv(), if room => match r {
                    Some(rec) => self.pending = Some(rec),
                    None => self.rx_open = false,
                },
                _ = self.shared.wake.notified() => {}
                _ = tick.tick() => self.on_tick().await,
                _ = stop.changed() => {}
            }
        }
        self.finish().await
    }

    fn idle(&self) -> bool {
        self.pending.is_none()
            && self.rx.is_empty()
            && self.inflight.is_empty()
            && self.shared.backlog().records() == 0
    }

    /// Publishes while there is room: queued records first (they are older than
    /// anything spilled after them), then the backlog.
    async fn fill(&mut self) {
        if !self.connected() {
            self.spill_queue();
            return;
        }
        while self.can_publish() {
            let next = match self.pending.take() {
                Some(r) => Some((r, None)),
                None => match self.rx.try_recv() {
                    Ok(r) => Some((r, None)),
                    Err(_) if self.shared.spilling.load(Ordering::Acquire) => {
                        let mut b = self.shared.backlog();
                        match b.next() {
                            Ok(Some((r, pos))) => Some((r, Some(pos))),
                            Ok(None) => {
                                // Caught up: new records may take the fast path again.
                                if self.rx.is_empty() && !self.shared.spool_all {
                                    self.shared.spilling.store(false, Ordering::Release);
                                }
                                None
                            }
                            Err(e) => {
                                drop(b);
                                self.log_error(format!("spool read failed: {e}"));
                                self.retry_at = Instant::now() + MAX_BACKOFF;
                                None
                            }
                        }
                    }
                    Err(_) => None,
                },
            };
            let Some((rec, pos)) = next else { break };
            self.publish(rec, pos).await;
        }
    }

    async fn publish(&mut self, rec: DurableRecord, pos: Option<Pos>) {
        let subject = subject_for(&self.subject, rec.topic.as_deref());
        let body = bytes::Bytes::from(rec.body);
        let msg = PublishMessage::build()
            .payload(body.clone())
            .message_id(rec.id.to_string());
        let src = match pos {
            Some(p) => Src::Backlog(p),
            None => Src::Queue(rec.id, rec.topic, body),
        };
        self.shared.stats.published.fetch_add(1, Ordering::Relaxed);
        match self.ctx.send_publish(subject, msg).await {
            Ok(ack) => {
                self.inflight.push_back(ack.into_future());
                self.srcs.push_back(src);
            }
            Err(e) => self.complete(src, Err(e)),
        }
    }

    fn complete(&mut self, src: Src, res: Result<PublishAck, PublishError>) {
        let stats = &self.shared.stats;
        match res {
            Ok(ack) => {
                let counted = match src {
                    Src::Queue(..) => true,
                    // After a failure in this round the backlog is replayed from the
                    // first unacknowledged record: later acks are not taken here.
                    Src::Backlog(pos) if !self.failed => {
                        let mut b = self.shared.backlog();
                        if let Err(e) = b.ack(pos) {
                            eprintln!("zmq-adaptor: spool: {e}");
                        }
                        self.shared.gauges(&b);
                        true
                    }
                    Src::Backlog(_) => false,
                };
                if counted {
                    stats.acked.fetch_add(1, Ordering::Relaxed);
                    if ack.duplicate {
                        stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if !self.failed {
                    self.backoff = MIN_BACKOFF;
                }
            }
            Err(e) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                self.log_error(format!("publish failed, retrying: {e}"));
                if e.kind() == PublishErrorKind::StreamNotFound {
                    // Deleted under us: make (or check) it again before publishing.
                    self.stream_ready = false;
                }
                if !self.failed {
                    self.failed = true;
                    self.retry_at = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
                if let Src::Queue(id, topic, body) = src {
                    let rec = DurableRecord {
                        id,
                        topic,
                        body: body.to_vec(),
                    };
                    let sh = self.shared.clone();
                    let _ = sh.spill(&mut sh.backlog(), rec);
                }
            }
        }
    }

    /// Not connected: queued records go to the backlog (to disk with a spool).
    fn spill_queue(&mut self) {
        let sh = self.shared.clone();
        let mut b = None;
        for rec in self
            .pending
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| self.rx.try_recv().ok()))
        {
            let guard = b.get_or_insert_with(|| sh.backlog());
            let _ = sh.spill(guard, rec);
        }
    }

    async fn on_tick(&mut self) {
        {
            let mut b = self.shared.backlog();
            if let Err(e) = b.tick() {
                eprintln!("zmq-adaptor: spool: sync failed: {e}");
            }
            self.shared.gauges(&b);
        }
        if !self.stream_ready && self.connected() && Instant::now() >= self.retry_at {
            match ensure_stream(&self.ctx, &self.opts).await {
                Ok(()) => {
                    self.stream_ready = true;
                    self.backoff = MIN_BACKOFF;
                }
                Err(e) => {
                    self.log_error(format!("stream: {e}"));
                    self.retry_at = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Shutdown: takes the acks that come within a short grace (when connected),
    /// then puts everything not acknowledged into the backlog and syncs it.
    async fn finish(mut self) -> ShutdownReport {
        let grace = Instant::now() + Duration::from_millis(200);
        while !self.inflight.is_empty() && self.connected() {
            let left = grace.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.inflight.next()).await {
                Ok(Some(res)) => {
                    let src = self
                        .srcs
                        .pop_front()
                        .expect("source of an in-flight record");
                    self.complete(src, res);
                }
                _ => break,
            }
        }
        let sh = self.shared.clone();
        let mut b = sh.backlog();
        // Queue records whose ack never came, then those still queued: spooled; a
        // replay of one that did land is dropped by the dedup window.
        let unacked = std::mem::take(&mut self.srcs)
            .into_iter()
            .filter_map(|s| match s {
                Src::Queue(id, topic, body) => Some(DurableRecord {
                    id,
                    topic,
                    body: body.to_vec(),
                }),
                Src::Backlog(_) => None,
            })
            .collect::<Vec<_>>();
        self.rx.close();
        let queued = self
            .pending
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| self.rx.try_recv().ok()));
        for rec in unacked.into_iter().chain(queued) {
            let _ = sh.spill(&mut b, rec);
        }
        if let Err(e) = b.sync() {
            eprintln!("zmq-adaptor: spool: sync failed: {e}");
        }
        sh.gauges(&b);
        let left = b.records();
        // Close the spool (and release its lock) now: a new sink may open it.
        *b = Backlog::Memory {
            q: VecDeque::new(),
            read: 0,
            bytes: 0,
            max: 0,
        };
        ShutdownReport {
            acked: sh.stats.acked.load(Ordering::Relaxed),
            spooled: if sh.disk { left } else { 0 },
            lost: if sh.disk { 0 } else { left },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        js: JetStreamArgs,
    }

    fn parse(args: &[&str]) -> Result<Option<JetStreamOptions>, String> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("zmq-adaptor").chain(args.iter().copied()))
            .map(|c| c.js.options())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flags() {
        assert!(parse(&[]).unwrap().is_none());
        let o = parse(&[
            "--jetstream",
            "nats://h:4222",
            "--jetstream-subject",
            "usage",
            "--jetstream-stream",
            "U",
            "--jetstream-no-create",
            "--spool",
            "/var/spool/zmq",
            "--spool-max-bytes",
            "512M",
            "--spool-fsync",
            "always",
            "--spool-all",
            "--jetstream-duplicate-window",
            "1h",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.url.as_str(), o.subject.as_str()),
            ("nats://h:4222", "usage")
        );
        assert_eq!(o.stream_name(), "U");
        assert!(!o.create_stream);
        let so = o.spool.unwrap();
        assert_eq!((so.max_bytes, so.fsync), (512 << 20, FsyncPolicy::Always));
        assert!(o.spool_all);
        assert_eq!(o.duplicate_window, Duration::from_secs(3600));
        assert!(
            parse(&["--jetstream", "nats://h"]).is_err(),
            "subject required"
        );
        assert!(
            parse(&["--spool", "/tmp/x"]).is_err(),
            "spool needs --jetstream"
        );
        let e = parse(&[
            "--jetstream",
            "nats://h",
            "--jetstream-subject",
            "u",
            "--spool-max-bytes",
            "lots",
        ])
        .unwrap_err();
        assert!(e.contains("512M"), "{e}");
        let e = parse(&[
            "--jetstream",
            "nats://h",
            "--jetstream-subject",
            "u",
            "--jetstream-duplicate-window",
            "30s",
        ])
        .unwrap_err();
        assert!(e.contains("at least 2m"), "{e}");
    }

    #[test]
    fn subjects_and_names() {
        assert_eq!(subject_for("usage", None), "usage");
        assert_eq!(subject_for("usage", Some(b"")), "usage");
        assert_eq!(subject_for("usage", Some(b"billing")), "usage.billing");
        assert_eq!(subject_for("usage", Some(b"a.b *>\xff")), "usage.a_b____");
        assert_eq!(stream_name_for("gw.usage"), "GW_USAGE");
        assert_eq!(
            url_userinfo("nats://u:p@h:1"),
            Some(("u".into(), Some("p".into())))
        );
        assert_eq!(url_userinfo("nats://tok@h:1"), Some(("tok".into(), None)));
        assert_eq!(url_userinfo("nats://h:1,nats://h:2"), None);
        assert!(check_subject("gw.usage").is_ok());
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"] {
            assert!(check_subject(bad).is_err(), "{bad}");
        }
    }
}

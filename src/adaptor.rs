//! The gateway-node adaptor: the forwarding proxy plus the original helper's extras
//! (debug printing, test publisher/subscriber, reverse channel, periodic stats).
//! The `zmq-adaptor` binary parses flags into [`Options`] and calls [`run`].

use crate::monitor::{EventSink, SocketEvent};
use crate::proxy::{self, Proxy, ProxyConfig, ProxyError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default endpoint the reverse channel's SUB connects to (as in the original).
pub const DEFAULT_REVERSE_LISTEN: &str = "tcp://127.0.0.1:5000";
/// Default endpoint the reverse channel's PUSH binds (as in the original).
pub const DEFAULT_REVERSE_PUSH: &str = "ipc:///tmp/nginx_queue_push";

/// The reverse channel (SUB → PUSH), for commands from a tracking service back to
/// the gateway.
#[derive(Debug, Clone)]
pub struct ReverseOptions {
    /// SUB endpoint (connected; bound in reverse-test mode).
    pub listen: String,
    /// PUSH endpoint, bound; nginx-side consumers PULL from it.
    pub push: String,
    /// Built-in publisher and PULL receiver, to see the channel work (`-r`).
    pub test: bool,
}

/// Everything `run` needs; built by the binary from its flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// The forwarding proxy's settings (listen/publish endpoints, HWMs, IPC mode).
    pub proxy: ProxyConfig,
    /// Print every message and every socket event.
    pub debug: bool,
    /// Built-in publisher and subscriber with latency figures.
    pub test: bool,
    /// Interval of the built-in test publishers.
    pub test_interval: Duration,
    /// The reverse channel, when asked for.
    pub reverse: Option<ReverseOptions>,
    /// One stats line this often (None: never).
    pub stats_interval: Option<Duration>,
    /// User whose access to IPC socket files is checked at start (nginx workers).
    pub worker_user: Option<String>,
    /// `HOST:PORT` where `GET /metrics` is served (None: off).
    pub metrics: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proxy: ProxyConfig::default(),
            debug: false,
            test: false,
            test_interval: Duration::from_millis(100),
            reverse: None,
            stats_interval: None,
            worker_user: None,
            metrics: None,
        }
    }
}

/// Why the adaptor could not run.
#[derive(Debug)]
pub enum AdaptorError {
    /// The forwarding proxy failed to start.
    Proxy(ProxyError),
    /// The reverse channel failed to start.
    Reverse(ProxyError),
    /// A named user or group does not exist.
    UnknownUser(String),
    /// The metrics endpoint could not be served.
    Metrics(String),
}

impl std::fmt::Display for AdaptorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdaptorError::Proxy(e) => write!(f, "{e}"),
            AdaptorError::Reverse(e) => write!(f, "reverse channel: {e}"),
            AdaptorError::UnknownUser(u) => write!(f, "unknown user or group '{u}'"),
            AdaptorError::Metrics(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for AdaptorError {}

/// What the adaptor did, returned when it stops.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Final proxy counters.
    pub stats: proxy::ProxyStats,
    /// Messages the built-in test subscriber received (test mode).
    pub test_received: u64,
    /// Final record accounting.
    pub records: crate::accounting::Snapshot,
    /// Records received and not forwarded (every drop reason), as in the final line.
    pub undelivered: u64,
}

/// Renders a message part for debug output: printable text as is, other bytes
/// escaped, cut at `max` characters.
pub fn render(part: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &b in part.iter() {
        if s.len() >= max {
            s.push_str("...");
            break;
        }
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn now_stamp() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// Resolves a group name (or number) to a gid.
pub fn group_id(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is NUL-terminated; getgrnam returns NULL or a pointer to static data
    // that we read immediately.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    // SAFETY: non-null result from getgrnam points to a valid struct group.
    (!g.is_null()).then(|| unsafe { (*g).gr_gid })
}

/// Resolves a user name to (uid, primary gid, supplementary gids).
pub fn user_ids(name: &str) -> Option<(u32, Vec<u32>)> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is NUL-terminated; getpwnam returns NULL or static data read at once.
    let p = unsafe { libc::getpwnam(c.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null result points to a valid struct passwd.
    let (uid, gid) = unsafe { ((*p).pw_uid, (*p).pw_gid) };
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut n = groups.len() as libc::c_int;
    // SAFETY: buffer of n gids; getgrouplist writes at most n and updates n.
    let rc = unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
    groups.truncate(if rc < 0 { 0 } else { n.max(0) as usize });
    if !groups.contains(&gid) {
        groups.push(gid);
    }
    Some((uid, groups))
}

/// Why `uid`/`gids` could not connect to the IPC socket at `path`, if they couldn't:
/// connecting needs write permission on the file and search permission on every
/// directory above it.
pub fn ipc_access_problem(path: &str, uid: u32, gids: &[u32]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if uid == 0 {
        return None;
    }
    let allowed = |m: &std::fs::Metadata, bit: u32| {
        let mode = m.mode();
        if m.uid() == uid {
            mode & (bit << 6) != 0
        } else if gids.contains(&m.gid()) {
            mode & (bit << 3) != 0
        } else {
            mode & bit != 0
        }
    };
    let p = std::path::Path::new(path);
    let mut dir = p.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() {
            break;
        }
        if let Ok(m) = std::fs::metadata(d) {
            if !allowed(&m, 0o1) {
                return Some(format!(
                    "directory {} (mode {:o}, uid {}, gid {}) is not searchable",
                    d.display(),
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ));
            }
        }
        dir = d.parent();
    }
    match std::fs::metadata(p) {
        Ok(m) if !allowed(&m, 0o2) => Some(format!(
            "socket file {path} (mode {:o}, uid {}, gid {}) is not writable",
            m.mode() & 0o7777,
            m.uid(),
            m.gid()
        )),
        Ok(_) => None,
        Err(e) => Some(format!("{path}: {e}")),
    }
}

fn check_ipc_access(endpoint: &str, worker_user: Option<&str>) {
    let Some(path) = proxy::ipc_path(endpoint) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    // Default: as root, nginx workers usually run as another user (nobody, www-data).
    let user = worker_user.or(if me == 0 { Some("nobody") } else { None });
    let Some(user) = user else { return };
    let Some((uid, gids)) = user_ids(user) else {
        eprintln!("zmq-adaptor: warning: cannot check {path} for user '{user}': no such user");
        return;
    };
    if let Some(why) = ipc_access_problem(path, uid, &gids) {
        eprintln!(
            "zmq-adaptor: WARNING: nginx workers running as '{user}' cannot connect to {endpoint}: {why}. \
             libzmq retries silently and records pile up in the workers. \
             Use --ipc-group <the workers' group> (socket mode 0660, the default) and a \
             directory they can search; --ipc-mode 0666 would let every local user connect."
        );
    }
}

fn event_sink(debug: bool) -> EventSink {
    Arc::new(move |e: &SocketEvent| {
        if e.is_error {
            eprintln!(
                "{} zmq-adaptor: {} socket: {} {} (value {})",
                now_stamp(),
                e.side,
                e.kind,
                e.endpoint,
                e.value
            );
        } else if debug {
            println!("{} event {} {} {}", now_stamp(), e.side, e.kind, e.endpoint);
        }
    })
}

fn debug_printer(label: &'static str) -> proxy::CaptureFn {
    let mut multipart = false;
    Box::new(move |kind: proxy::Captured, part: &[u8], more: bool| {
        if kind == proxy::Captured::Subscription {
            let (what, topic) = match part.split_first() {
                Some((1, t)) => ("subscribe", t),
                Some((0, t)) => ("unsubscribe", t),
                _ => ("subscription?", part),
            };
            println!("{} {what} '{}'", now_stamp(), render(topic, 200));
            return;
        }
        let cont = if multipart { " (cont)" } else { "" };
        println!(
            "{} {label}{cont} {} bytes: {}",
            now_stamp(),
            part.len(),
            render(part, 200)
        );
        multipart = more;
    })
}

/// A connect address for a bound endpoint (wildcards → loopback).
pub fn connect_address(bound: &str) -> String {
    bound
        .replace("://0.0.0.0:", "://127.0.0.1:")
        .replace("://*:", "://127.0.0.1:")
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Latency figures of the test subscriber.
#[derive(Debug, Default, Clone, Copy)]
struct Latency {
    count: u64,
    min_us: f64,
    max_us: f64,
    sum_us: f64,
}

impl Latency {
    fn add(&mut self, us: f64) {
        if self.count == 0 || us < self.min_us {
            self.min_us = us;
        }
        if us > self.max_us {
            self.max_us = us;
        }
        self.sum_us += us;
        self.count += 1;
    }
    fn line(&self) -> String {
        let avg = if self.count > 0 {
            self.sum_us / self.count as f64
        } else {
            0.0
        };
        format!(
            "test: {} messages processed, latency min/avg/max = {:.0}/{:.0}/{:.0} us",
            self.count, self.min_us, avg, self.max_us
        )
    }
}

/// The built-in test peers (`-t`, `-r`), each a thread with its own socket.
struct TestPeers {
    ctx: zmq::Context,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    latency: Arc<Mutex<Latency>>,
}

impl TestPeers {
    fn new() -> Self {
        TestPeers {
            ctx: zmq::Context::new(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            latency: Arc::new(Mutex::new(Latency::default())),
        }
    }

    fn spawn(
        &mut self,
        name: &str,
        f: impl FnOnce(zmq::Context, Arc<AtomicBool>) + Send + 'static,
    ) {
        let (ctx, stop) = (self.ctx.clone(), self.stop.clone());
        if let Ok(t) = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(ctx, stop))
        {
            self.threads.push(t);
        }
    }

    /// A PUB connected to `endpoint`, sending `<prefix>-<seq> <unix-ns>` every `every`.
    fn publisher(&mut self, endpoint: String, prefix: &'static str, every: Duration) {
        self.spawn("zmq-adaptor-testpub", move |ctx, stop| {
            let Ok(s) = ctx.socket(zmq::PUB) else { return };
            let _ = s.set_linger(0);
            if s.connect(&endpoint).is_err() {
                return;
            }
            let mut seq = 0u64;
            while !stop.load(Ordering::Acquire) {
                let msg = format!("{prefix}-{seq:05} {}", unix_nanos());
                let _ = s.send(msg.as_bytes(), 0);
                seq += 1;
                std::thread::sleep(every);
            }
        });
    }

    /// A SUB on `endpoint` measuring latency of test messages.
    fn subscriber(&mut self, endpoint: String, print: bool) {
        let lat = self.latency.clone();
        self.spawn("zmq-adaptor-testsub", move |ctx, stop| {
            let Ok(s) = ctx.socket(zmq::SUB) else { return };
            let _ = s.set_linger(0);
            let _ = s.set_subscribe(b"");
            if s.connect(&endpoint).is_err() {
                return;
            }
            while !stop.load(Ordering::Acquire) {
                if !matches!(s.poll(zmq::POLLIN, 100), Ok(n) if n > 0) {
                    continue;
                }
                let Ok(parts) = s.recv_multipart(zmq::DONTWAIT) else {
                    continue;
                };
                let Some(last) = parts.last() else { continue };
                let text = String::from_utf8_lossy(last);
                let sent = text.rsplit(' ').next().and_then(|t| t.parse::<u64>().ok());
                if let (Some(sent), true) = (sent, text.starts_with("PUB-")) {
                    let us = unix_nanos().saturating_sub(sent) as f64 / 1000.0;
                    lat.lock().unwrap_or_else(|p| p.into_inner()).add(us);
                    if print {
                        println!(
                            "{} test: got {} ({us:.0} us)",
                            now_stamp(),
                            render(last, 80)
                        );
                    }
                } else if print {
                    println!("{} test: got {}", now_stamp(), render(last, 80));
                }
            }
        });
    }

    /// A PULL on the reverse channel's push endpoint, printing what arrives.
    fn puller(&mut self, endpoint: String) {
        self.spawn("zmq-adaptor-testpull", move |ctx, stop| {
            let Ok(s) = ctx.socket(zmq::PULL) else { return };
            let _ = s.set_linger(0);
            if s.connect(&endpoint).is_err() {
                return;
            }
            while !stop.load(Ordering::Acquire) {
                if !matches!(s.poll(zmq::POLLIN, 100), Ok(n) if n > 0) {
                    continue;
                }
                if let Ok(m) = s.recv_bytes(zmq::DONTWAIT) {
                    println!("{} reverse: received {}", now_stamp(), render(&m, 80));
                }
            }
        });
    }

    fn stop(self) -> Latency {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
        let l = *self.latency.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.ctx);
        l
    }
}

fn stats_line(p: &Proxy) -> String {
    let a = p.accounting();
    let r = a.snapshot();
    let g = crate::accounting::Accounting::get;
    format!(
        "stats: received {} forwarded {} dropped {} backlog {} consumer_drops {}, in {} msgs {} bytes, out {} msgs {} bytes, subscribers {}, subscriptions {}{}",
        r.received,
        r.forwarded,
        r.dropped_total(),
        r.backlog,
        g(&a.consumer_drops),
        g(&a.msgs_in),
        g(&a.bytes_in),
        g(&a.msgs_out),
        g(&a.bytes_out),
        p.subscribers(),
        p.subscriptions(),
        if p.subscriptions() == 0 {
            " (no consumer: records are held back)"
        } else {
            ""
        }
    )
}

/// The last line of a stopped adaptor: its books, with `undelivered=N` the records it
/// received and could not forward (every drop reason).
fn final_line(a: &crate::accounting::Accounting) -> (String, u64, crate::accounting::Snapshot) {
    let r = a.snapshot();
    let g = crate::accounting::Accounting::get;
    let undelivered = r.dropped_total();
    let mut by = String::new();
    for (i, reason) in crate::accounting::DropReason::ALL.iter().enumerate() {
        by.push_str(&format!(" dropped_{}={}", reason.label(), r.dropped[i]));
    }
    (
        format!(
            "zmq-adaptor: stopped: received={} forwarded={} undelivered={undelivered}{by} consumer_drops={} returned_to_workers={} duplicates={}",
            r.received,
            r.forwarded,
            g(&a.consumer_drops),
            g(&a.returned),
            g(&a.duplicates),
        ),
        undelivered,
        r,
    )
}

/// With security on, handshake failures seen by the socket monitors are counted and
/// logged (rate-limited) by the guard instead of printed one by one.
fn security_sink(cfg: &ProxyConfig, inner: EventSink) -> EventSink {
    match &cfg.security {
        Some(s) => {
            let r = s.guard.reporter();
            Arc::new(move |e: &SocketEvent| {
                if !r.on_socket_event(e) {
                    inner(e)
                }
            })
        }
        None => inner,
    }
}

/// One line saying how the tcp sockets are protected (never a secret).
fn security_line(cfg: &ProxyConfig) -> Option<String> {
    use crate::security::CurvePolicy;
    let s = cfg.security.as_ref()?;
    let p = s.guard.policy();
    let curve = match (&s.curve, &p.curve) {
        (Some(k), CurvePolicy::Clients(dir)) => format!(
            "CURVE server (public key {}), {} client keys from {}",
            k.public,
            s.guard.client_keys(),
            dir.display()
        ),
        (Some(k), _) => format!(
            "CURVE server (public key {}), any client key (--curve-allow-any)",
            k.public
        ),
        (None, _) => "no CURVE".to_string(),
    };
    let allow = if p.allow.is_empty() {
        String::new()
    } else {
        let l: Vec<String> = p.allow.iter().map(|n| n.to_string()).collect();
        format!(", peers from {}", l.join(" "))
    };
    Some(format!("zmq-adaptor: tcp sockets: {curve}{allow}"))
}

/// What a running adaptor is asked to do (the binary maps signals to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop (SIGINT, SIGTERM).
    Stop,
    /// Re-read what can be re-read and keep running (SIGHUP); see [`reload`].
    Reload,
}

/// `()` on the control channel means [`Control::Stop`], so a `Receiver<()>` still works.
impl From<()> for Control {
    fn from(_: ()) -> Self {
        Control::Stop
    }
}

/// The reload hook (SIGHUP): re-reads what can change without a restart and returns
/// what it re-read, one item each (empty: nothing is reloadable yet). Endpoints,
/// HWMs and socket modes need a restart.
pub fn reload(opts: &Options) -> Vec<String> {
    let mut done = Vec::new();
    if let Some(s) = &opts.proxy.security {
        if let crate::security::CurvePolicy::Clients(dir) = &s.guard.policy().curve {
            // All or nothing: on any error the previous keys stay in force.
            done.push(match s.guard.reload() {
                Ok(n) => format!("{n} CURVE client keys from {}", dir.display()),
                Err(e) => format!("CURVE client keys: {e}; keeping the previous keys"),
            });
        }
    }
    done
}

/// The one line logged for a reload.
fn reload_line(reloaded: &[String]) -> String {
    if reloaded.is_empty() {
        "zmq-adaptor: reload (SIGHUP): nothing to re-read (endpoints and limits need a restart); still forwarding".into()
    } else {
        format!(
            "zmq-adaptor: reload (SIGHUP): re-read {}; still forwarding",
            reloaded.join(", ")
        )
    }
}

/// Runs the adaptor until `control` receives [`Control::Stop`] (or `()`) or its
/// sender is dropped; [`Control::Reload`] runs [`reload`] and logs one line.
/// Returns once every socket is closed.
pub fn run<C: Into<Control>>(
    opts: &Options,
    control: Receiver<C>,
) -> Result<Summary, AdaptorError> {
    let mut pcfg = opts.proxy.clone();
    pcfg.capture = opts.debug;
    let sink = security_sink(&pcfg, event_sink(opts.debug));
    let proxy = Proxy::start(&pcfg, Some(sink.clone()), Some(debug_printer("message")))
        .map_err(AdaptorError::Proxy)?;
    let (listen, publish) = (
        proxy.endpoints().0.to_string(),
        proxy.endpoints().1.to_string(),
    );
    check_ipc_access(&listen, opts.worker_user.as_deref());
    println!("zmq-adaptor: forwarding {listen} -> {publish}");
    if let Some(line) = security_line(&pcfg) {
        println!("{line}");
    }
    let metrics = match &opts.metrics {
        Some(addr) => {
            let extra = pcfg.durable.as_ref().map(|d| {
                let st = d.0.stats();
                Box::new(move || st.extras()) as crate::metrics::ExtraFn
            });
            let m = crate::metrics::MetricsServer::start(addr, proxy.accounting().clone(), extra)
                .map_err(AdaptorError::Metrics)?;
            println!("zmq-adaptor: metrics on http://{}/metrics", m.addr());
            Some(m)
        }
        None => None,
    };

    let reverse = match &opts.reverse {
        Some(r) => {
            let p = Proxy::start_reverse(
                &r.listen,
                r.test,
                &r.push,
                &pcfg,
                Some(sink.clone()),
                Some(debug_printer("reverse")),
            )
            .map_err(AdaptorError::Reverse)?;
            check_ipc_access(p.endpoints().1, opts.worker_user.as_deref());
            println!(
                "zmq-adaptor: reverse channel {} -> {}",
                p.endpoints().0,
                p.endpoints().1
            );
            Some(p)
        }
        None => None,
    };

    let mut peers = TestPeers::new();
    if opts.test {
        peers.subscriber(connect_address(&publish), opts.debug);
        peers.publisher(connect_address(&listen), "PUB", opts.test_interval);
    }
    if let (Some(r), Some(p)) = (&opts.reverse, &reverse) {
        if r.test {
            peers.puller(connect_address(p.endpoints().1));
            peers.publisher(connect_address(p.endpoints().0), "SEND", opts.test_interval);
        }
    }

    let tick = opts.stats_interval.unwrap_or(Duration::from_secs(3600));
    let mut next = Instant::now() + tick;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match control.recv_timeout(wait).map(Into::into) {
            Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Control::Reload) => {
                eprintln!("{} {}", now_stamp(), reload_line(&reload(opts)));
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {
                if opts.stats_interval.is_some() {
                    eprintln!("{} {}", now_stamp(), stats_line(&proxy));
                    if opts.test {
                        println!(
                            "{} {}",
                            now_stamp(),
                            peers.latency.lock().map(|l| l.line()).unwrap_or_default()
                        );
                    }
                }
                next = Instant::now() + tick;
            }
        }
    }

    let latency = peers.stop();
    let stats = proxy.stats().unwrap_or_default();
    eprintln!("{} {}", now_stamp(), stats_line(&proxy));
    if opts.test {
        println!("{} {}", now_stamp(), latency.line());
    }
    if let Some(r) = reverse {
        r.stop();
    }
    let acct = proxy.accounting().clone();
    proxy.stop();
    drop(metrics);
    let (line, undelivered, records) = final_line(&acct);
    eprintln!("{line}");
    Ok(Summary {
        stats,
        test_received: latency.count,
        records,
        undelivered,
    })
}

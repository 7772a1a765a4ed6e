//! The adaptor's proxy: XSUB (bound where the workers' publishers connect) → XPUB
//! (bound where consumers subscribe), in its own thread, steerable with
//! PAUSE/RESUME/TERMINATE/STATISTICS (the commands of libzmq's
//! `zmq_proxy_steerable`) plus `DRAIN <ms>` (graceful stop) over an inproc control
//! socket. The forwarding and its accounting live in [`crate::forward`]; the reverse
//! channel (SUB → PUSH) in [`crate::relay`]. This file binds and starts them.

use crate::accounting::Accounting;
use crate::forward::{Forwarder, Limits};
use crate::ipc_lock::{self, IpcLock, LockError};
use crate::log::{self, Level};
use crate::monitor::{self, EventSink, Monitor};
use crate::relay::Relay;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Default listen endpoint (XSUB bind), shared with the logger's default.
pub const DEFAULT_LISTEN: &str = crate::config::DEFAULT_ENDPOINT;
/// Default publish endpoint (XPUB bind): loopback only unless said otherwise.
pub const DEFAULT_PUBLISH: &str = "tcp://127.0.0.1:6001";

/// Why a proxy could not start.
#[derive(Debug)]
pub enum ProxyError {
    /// An endpoint is malformed.
    BadEndpoint(String),
    /// Binding or connecting an endpoint failed.
    Bind {
        /// The endpoint.
        endpoint: String,
        /// libzmq's error.
        err: zmq::Error,
    },
    /// Another live process is bound on this IPC path.
    InUse(String),
    /// Setting the IPC socket file's mode or group failed.
    IpcPermissions(String),
    /// The IPC path's lock file (`PATH.lock`) cannot be used.
    IpcLock(String),
    /// Any other libzmq error.
    Zmq(zmq::Error),
    /// CURVE/ZAP setup failed, or an IPC path is unsafe (squatted, shared directory).
    Security(String),
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyError::BadEndpoint(e) => write!(
                f,
                "bad endpoint '{e}': expected tcp://host:port, ipc:///path or inproc://name"
            ),
            ProxyError::Bind { endpoint, err } => write!(f, "cannot bind {endpoint}: {err}"),
            ProxyError::InUse(p) => write!(
                f,
                "{p} is in use by a running process (another adaptor?); refusing to steal it"
            ),
            ProxyError::IpcPermissions(m) => write!(f, "ipc socket permissions: {m}"),
            ProxyError::IpcLock(m) => f.write_str(m),
            ProxyError::Zmq(e) => write!(f, "libzmq: {e}"),
            ProxyError::Security(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ProxyError {}

impl From<LockError> for ProxyError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Held(p) => ProxyError::InUse(p.display().to_string()),
            LockError::Unusable(m) => ProxyError::IpcLock(m),
        }
    }
}

impl From<zmq::Error> for ProxyError {
    fn from(e: zmq::Error) -> Self {
        ProxyError::Zmq(e)
    }
}

/// Settings of the forwarding proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// XSUB bind endpoint: the workers' publishers connect here.
    pub listen: String,
    /// XPUB bind endpoint: consumers subscribe here.
    pub publish: String,
    /// Receive high-water mark on the XSUB side, in messages.
    pub listen_hwm: i32,
    /// Send high-water mark per consumer on the XPUB side, in messages.
    pub publish_hwm: i32,
    /// Mode for an IPC socket file bound by this proxy (e.g. 0o660).
    pub ipc_mode: Option<u32>,
    /// Group for an IPC socket file bound by this proxy.
    pub ipc_group: Option<u32>,
    /// How long closing may wait for messages still queued to consumers.
    pub linger: Duration,
    /// Copy every message to the capture handler (debug mode).
    pub capture: bool,
    /// Records held at most between publishers and consumers.
    pub backlog_records: usize,
    /// Bytes held at most between publishers and consumers.
    pub backlog_bytes: usize,
    /// Largest message a publisher may send (`ZMQ_MAXMSGSIZE`; a larger one makes
    /// libzmq drop that peer's connection). Workers pack batches below it.
    pub max_message: usize,
    /// How long a graceful stop forwards the backlog before giving up.
    pub drain_timeout: Duration,
    /// CURVE and ZAP for every tcp socket (None: no authentication).
    pub security: Option<crate::security::ProxySecurity>,
    /// Where the packed stream is published (XPUB, bound), and its compression.
    pub packed: Option<(String, crate::packed::Compression)>,
    /// A durable sink (JetStream) offered every received record. With `publish` =
    /// [`PUBLISH_NONE`] it is the only way out.
    pub durable: Option<crate::durable::DurableHandle>,
}

/// `publish` value meaning: no ZeroMQ publish side (`-p none`; needs a durable sink).
pub const PUBLISH_NONE: &str = "none";

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: DEFAULT_LISTEN.into(),
            publish: DEFAULT_PUBLISH.into(),
            listen_hwm: 1_000_000,
            publish_hwm: 1000,
            ipc_mode: None,
            ipc_group: None,
            linger: Duration::from_millis(1000),
            capture: false,
            backlog_records: 1_000_000,
            backlog_bytes: 256 << 20,
            max_message: 16 << 20,
            drain_timeout: Duration::from_secs(5),
            security: None,
            packed: None,
            durable: None,
        }
    }
}

/// Message and byte counts of one proxy (the eight figures of libzmq's STATISTICS
/// command; subscriptions going upstream are not counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// Messages received on the frontend (from publishers).
    pub frontend_msgs_in: u64,
    /// Bytes received on the frontend.
    pub frontend_bytes_in: u64,
    /// Messages sent on the frontend (subscriptions going upstream).
    pub frontend_msgs_out: u64,
    /// Bytes sent on the frontend.
    pub frontend_bytes_out: u64,
    /// Messages received on the backend (subscriptions from consumers).
    pub backend_msgs_in: u64,
    /// Bytes received on the backend.
    pub backend_bytes_in: u64,
    /// Messages sent on the backend (to consumers).
    pub backend_msgs_out: u64,
    /// Bytes sent on the backend.
    pub backend_bytes_out: u64,
}

/// What a captured message part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured {
    /// A message part forwarded from publishers to consumers.
    Message,
    /// A consumer's subscribe (`\x01…`) or unsubscribe (`\x00…`) message.
    Subscription,
}

/// Called with every message part crossing the proxy when capture is on:
/// (what it is, the bytes, whether more parts follow).
pub type CaptureFn = Box<dyn FnMut(Captured, &[u8], bool) + Send>;

/// A running steerable proxy between two sockets. Stopped by [`Proxy::stop`] or drop.
pub struct Proxy {
    /// Owns every socket of this proxy; dropped last.
    ctx: zmq::Context,
    /// Controller end of the inproc PAIR the proxy thread listens to.
    control: Mutex<Option<zmq::Socket>>,
    /// The thread running the forwarding loop.
    thread: Option<JoinHandle<()>>,
    /// Socket-event watchers of both sides.
    monitors: Vec<Monitor>,
    /// Counters shared with the forwarding thread.
    acct: Arc<Accounting>,
    /// Endpoints actually bound (wildcard ports resolved): frontend, backend.
    bound: (String, String),
    /// Locks of the ipc paths bound, held while the proxy runs.
    _locks: Vec<IpcLock>,
    /// Graceful stop bound.
    drain_timeout: Duration,
    /// ZAP handler of this context; stopped after the guarded sockets are closed.
    zap: Option<crate::security::ZapHandler>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn validate(ep: &str) -> Result<(), ProxyError> {
    crate::config::validate_endpoint(ep).map_err(|_| ProxyError::BadEndpoint(ep.to_string()))
}

/// The path of an `ipc://` endpoint.
pub fn ipc_path(endpoint: &str) -> Option<&str> {
    endpoint.strip_prefix("ipc://").filter(|p| *p != "*")
}

/// Refuses to bind over an IPC socket that a live process still serves; a stale
/// file (nobody listening) is fine — libzmq replaces it.
fn check_ipc_free(endpoint: &str) -> Result<(), ProxyError> {
    if let Some(path) = ipc_path(endpoint) {
        // Abstract-namespace sockets (`@name`) have no file to squat.
        if !path.starts_with('@') {
            crate::security::check_ipc_path(
                std::path::Path::new(path),
                crate::security::effective_uid(),
            )
            .map_err(|e| ProxyError::Security(e.to_string()))?;
        }
        // A listener that is closing (its owner just stopped; a process forked at
        // that moment holds a copy of the descriptor until it execs) still accepts
        // for a moment: only one that keeps answering is taken as live.
        let answers = || {
            std::path::Path::new(path).exists()
                && std::os::unix::net::UnixStream::connect(path).is_ok()
        };
        if (0..5).all(|i| {
            if i > 0 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            answers()
        }) {
            return Err(ProxyError::InUse(path.to_string()));
        }
    }
    Ok(())
}

fn apply_ipc_permissions(endpoint: &str, cfg: &ProxyConfig) -> Result<(), ProxyError> {
    let Some(path) = ipc_path(endpoint) else {
        return Ok(());
    };
    let cpath = std::ffi::CString::new(path)
        .map_err(|_| ProxyError::IpcPermissions(format!("{path}: NUL in path")))?;
    if let Some(gid) = cfg.ipc_group {
        // SAFETY: cpath is a valid NUL-terminated path; -1 keeps the owner.
        if unsafe { libc::chown(cpath.as_ptr(), u32::MAX, gid) } != 0 {
            return Err(ProxyError::IpcPermissions(format!(
                "chgrp {gid} {path}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    if let Some(mode) = cfg.ipc_mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| ProxyError::IpcPermissions(format!("chmod {mode:o} {path}: {e}")))?;
    }
    Ok(())
}

/// Binds `sock`; for an ipc path, first takes its lock (kept in `locks`), so of two
/// proxies binding the same path at once exactly one proceeds.
fn bind(
    sock: &zmq::Socket,
    endpoint: &str,
    locks: &mut Vec<IpcLock>,
) -> Result<String, ProxyError> {
    validate(endpoint)?;
    // Abstract-namespace sockets (`@name`) have no file; the kernel refuses a second bind.
    if let Some(path) = ipc_path(endpoint).filter(|p| !p.starts_with('@')) {
        locks.push(ipc_lock::acquire(std::path::Path::new(path))?);
    }
    check_ipc_free(endpoint)?;
    sock.bind(endpoint).map_err(|err| ProxyError::Bind {
        endpoint: endpoint.to_string(),
        err,
    })?;
    Ok(sock
        .get_last_endpoint()
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_else(|| endpoint.to_string()))
}

/// Starts the ZAP handler in `ctx` (before any socket binds) when security is on.
fn start_zap(
    ctx: &zmq::Context,
    cfg: &ProxyConfig,
) -> Result<Option<crate::security::ZapHandler>, ProxyError> {
    cfg.security
        .as_ref()
        .map(|s| s.guard.start(ctx))
        .transpose()
        .map_err(|e| ProxyError::Security(e.to_string()))
}

/// Makes `sock` a CURVE server / ZAP-guarded for a tcp `endpoint` when security is on.
fn secure(
    sock: &mut zmq::Socket,
    endpoint: &str,
    cfg: &ProxyConfig,
    domain: &str,
) -> Result<(), ProxyError> {
    if let Some(s) = &cfg.security {
        s.apply(sock, endpoint, domain)
            .map_err(|e| ProxyError::Security(format!("{endpoint}: {e}")))?;
    }
    Ok(())
}

/// Starts socket-event watchers on both sides when an event sink is given.
fn watch_both(
    ctx: &zmq::Context,
    frontend: &zmq::Socket,
    backend: &zmq::Socket,
    labels: (&'static str, &'static str),
    events: &Option<EventSink>,
    connections: &Arc<AtomicU64>,
    publishers: Option<&Arc<AtomicU64>>,
) -> Result<Vec<Monitor>, ProxyError> {
    let Some(sink) = events else {
        return Ok(Vec::new());
    };
    Ok(vec![
        monitor::watch(ctx, frontend, labels.0, sink.clone(), publishers.cloned())?,
        monitor::watch(
            ctx,
            backend,
            labels.1,
            sink.clone(),
            Some(connections.clone()),
        )?,
    ])
}

/// Two sockets ready to be joined by a proxy, plus what runs beside it.
struct Sides {
    /// Where messages come from (XSUB or SUB).
    frontend: zmq::Socket,
    /// Where they go (XPUB or PUSH).
    backend: zmq::Socket,
    /// Debug hook seeing every forwarded part.
    capture: Option<CaptureFn>,
    /// Socket-event watchers, started before binding so "listening" is seen.
    monitors: Vec<Monitor>,
    /// Counters, shared with the forwarding thread.
    acct: Arc<Accounting>,
    /// The accounting forwarder's limits; None for the reverse relay.
    limits: Option<Limits>,
    /// Bound/connected endpoints, wildcards resolved.
    bound: (String, String),
    /// Locks of the ipc paths bound.
    locks: Vec<IpcLock>,
    /// Graceful stop bound.
    drain_timeout: Duration,
    /// The ZAP handler guarding this proxy's tcp sockets (security on).
    zap: Option<crate::security::ZapHandler>,
    /// The packed stream's socket and compression.
    packed: Option<(zmq::Socket, crate::packed::Compression)>,
    /// The durable sink's side of the forwarder.
    durable: Option<crate::durable::DurableOut>,
}

impl Proxy {
    /// Binds XSUB on `cfg.listen` and XPUB on `cfg.publish`, subscribes the XSUB side to
    /// everything (publishers deliver even before any consumer connects) and starts
    /// forwarding. `events` receives socket events; `capture` every message part.
    pub fn start(
        cfg: &ProxyConfig,
        events: Option<EventSink>,
        capture: Option<CaptureFn>,
    ) -> Result<Proxy, ProxyError> {
        let ctx = zmq::Context::new();
        let zap = start_zap(&ctx, cfg)?;
        let mut frontend = ctx.socket(zmq::XSUB)?;
        let mut backend = ctx.socket(zmq::XPUB)?;
        secure(&mut frontend, &cfg.listen, cfg, "listen")?;
        secure(&mut backend, &cfg.publish, cfg, "publish")?;
        for s in [&frontend, &backend] {
            s.set_linger(cfg.linger.as_millis() as i32)?;
        }
        frontend.set_rcvhwm(cfg.listen_hwm)?;
        frontend.set_maxmsgsize(cfg.max_message.min(i64::MAX as usize) as i64)?;
        backend.set_sndhwm(cfg.publish_hwm)?;
        let mut acct = Accounting::default();
        if let Some(s) = &cfg.security {
            acct.auth_failures = s.guard.auth_failures();
        }
        let acct = Arc::new(acct);
        let connections = acct.consumers.clone();
        let mut monitors = watch_both(
            &ctx,
            &frontend,
            &backend,
            ("listen", "publish"),
            &events,
            &connections,
            Some(&acct.publishers),
        )?;
        let mut locks = Vec::new();
        let f = bind(&frontend, &cfg.listen, &mut locks)?;
        apply_ipc_permissions(&f, cfg)?;
        let zmq_out = cfg.publish != PUBLISH_NONE;
        let b = if zmq_out {
            let b = bind(&backend, &cfg.publish, &mut locks)?;
            apply_ipc_permissions(&b, cfg)?;
            b
        } else {
            PUBLISH_NONE.to_string()
        };
        let durable = cfg
            .durable
            .clone()
            .map(|d| crate::durable::DurableOut::new(d, zmq_out));
        let packed = match &cfg.packed {
            Some((ep, c)) => {
                let mut s = ctx.socket(zmq::XPUB)?;
                secure(&mut s, ep, cfg, "publish-packed")?;
                // Watched like the other sides, before binding: refused handshakes
                // are counted there too.
                if let Some(sink) = &events {
                    monitors.push(monitor::watch(
                        &ctx,
                        &s,
                        "publish-packed",
                        sink.clone(),
                        None,
                    )?);
                }
                s.set_linger(cfg.linger.as_millis() as i32)?;
                s.set_sndhwm(cfg.publish_hwm)?;
                let bound = bind(&s, ep, &mut locks)?;
                apply_ipc_permissions(&bound, cfg)?;
                Some((s, *c))
            }
            None => None,
        };
        // Subscribe upstream to everything, independent of downstream consumers.
        frontend.send(&[1u8][..], 0)?;
        Self::run(
            ctx,
            Sides {
                frontend,
                backend,
                capture: if cfg.capture { capture } else { None },
                monitors,
                acct,
                limits: Some(Limits {
                    backlog_records: cfg.backlog_records.max(1),
                    backlog_bytes: cfg.backlog_bytes.max(1),
                    max_message: cfg.max_message,
                }),
                bound: (f, b),
                locks,
                drain_timeout: cfg.drain_timeout,
                zap,
                packed,
                durable,
            },
        )
    }

    /// The reverse channel: a SUB on `listen` (connected, or bound when `bind_listen`)
    /// subscribed to everything, forwarded to a PUSH bound on `push`.
    pub fn start_reverse(
        listen: &str,
        bind_listen: bool,
        push: &str,
        cfg: &ProxyConfig,
        events: Option<EventSink>,
        capture: Option<CaptureFn>,
    ) -> Result<Proxy, ProxyError> {
        let ctx = zmq::Context::new();
        let zap = start_zap(&ctx, cfg)?;
        let mut frontend = ctx.socket(zmq::SUB)?;
        let mut backend = ctx.socket(zmq::PUSH)?;
        // The listening side is a CURVE server whether it binds or connects: the
        // tracking service's publisher authenticates with its own key pair.
        secure(&mut frontend, listen, cfg, "reverse-listen")?;
        secure(&mut backend, push, cfg, "reverse-push")?;
        for s in [&frontend, &backend] {
            s.set_linger(cfg.linger.as_millis() as i32)?;
        }
        frontend.set_subscribe(b"")?;
        let acct = Arc::new(Accounting::default());
        let connections = acct.consumers.clone();
        let monitors = watch_both(
            &ctx,
            &frontend,
            &backend,
            ("reverse-sub", "reverse-push"),
            &events,
            &connections,
            None,
        )?;
        let mut locks = Vec::new();
        let f = if bind_listen {
            bind(&frontend, listen, &mut locks)?
        } else {
            validate(listen)?;
            frontend.connect(listen).map_err(|err| ProxyError::Bind {
                endpoint: listen.to_string(),
                err,
            })?;
            listen.to_string()
        };
        let b = bind(&backend, push, &mut locks)?;
        apply_ipc_permissions(&b, cfg)?;
        Self::run(
            ctx,
            Sides {
                frontend,
                backend,
                capture: if cfg.capture { capture } else { None },
                monitors,
                acct,
                limits: None,
                bound: (f, b),
                locks,
                drain_timeout: Duration::ZERO,
                zap,
                packed: None,
                durable: None,
            },
        )
    }

    fn run(ctx: zmq::Context, sides: Sides) -> Result<Proxy, ProxyError> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let ctl_ep = format!("inproc://zmq-adaptor-control-{id}");
        let ctl_proxy = ctx.socket(zmq::PAIR)?;
        ctl_proxy.set_linger(0)?;
        ctl_proxy.bind(&ctl_ep)?;
        let ctl_user = ctx.socket(zmq::PAIR)?;
        ctl_user.set_linger(0)?;
        ctl_user.connect(&ctl_ep)?;

        let Sides {
            frontend,
            backend,
            capture,
            limits,
            bound,
            monitors,
            locks,
            acct,
            drain_timeout,
            zap,
            packed,
            durable,
        } = sides;
        let a2 = acct.clone();
        let thread = std::thread::Builder::new()
            .name("zmq-adaptor-proxy".into())
            .spawn(move || {
                let r = match limits {
                    Some(limits) => {
                        let mut f =
                            Forwarder::new(frontend, backend, ctl_proxy, capture, a2, limits);
                        if let Some(d) = durable {
                            f = f.with_durable(d);
                        }
                        match packed {
                            Some((s, c)) => f.with_packed(s, c),
                            None => Ok(f),
                        }
                        .and_then(|mut f| f.run())
                    }
                    None => Relay {
                        frontend,
                        backend,
                        control: ctl_proxy,
                        capture,
                        acct: a2,
                    }
                    .run(),
                };
                if let Err(e) = r {
                    if e != zmq::Error::ETERM {
                        log::emit(Level::Error, &format!("proxy stopped: {e}"));
                    }
                }
            })
            .map_err(|_| ProxyError::Zmq(zmq::Error::EFAULT))?;

        Ok(Proxy {
            ctx,
            control: Mutex::new(Some(ctl_user)),
            thread: Some(thread),
            monitors,
            acct,
            bound,
            _locks: locks,
            drain_timeout,
            zap,
        })
    }

    fn command(&self, cmd: &str) -> Result<(), ProxyError> {
        let g = self.control.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some(c) => Ok(c.send(cmd.as_bytes(), 0)?),
            None => Err(ProxyError::Zmq(zmq::Error::ETERM)),
        }
    }

    /// Stops forwarding; messages wait in the sockets' queues (up to their HWMs).
    pub fn pause(&self) -> Result<(), ProxyError> {
        self.command("PAUSE")
    }

    /// Resumes forwarding after [`Proxy::pause`].
    pub fn resume(&self) -> Result<(), ProxyError> {
        self.command("RESUME")
    }

    /// Message and byte counters of both sides.
    pub fn stats(&self) -> Result<ProxyStats, ProxyError> {
        let a = &self.acct;
        let g = Accounting::get;
        Ok(ProxyStats {
            frontend_msgs_in: g(&a.msgs_in),
            frontend_bytes_in: g(&a.bytes_in),
            backend_msgs_in: g(&a.subs_in),
            backend_msgs_out: g(&a.msgs_out),
            backend_bytes_out: g(&a.bytes_out),
            ..Default::default()
        })
    }

    /// The record accounting (received, forwarded, dropped by reason, consumer drops,
    /// workers' reports).
    pub fn accounting(&self) -> &Arc<Accounting> {
        &self.acct
    }

    /// Live subscription prefixes on the publish side (the proxy forwards only while
    /// there is at least one). 0 for the reverse channel.
    pub fn subscriptions(&self) -> u64 {
        self.acct.subscriptions.load(Ordering::Relaxed)
    }

    /// Consumers connected to the publish side now (counted from socket events; 0 when
    /// the proxy was started without an event sink).
    pub fn subscribers(&self) -> u64 {
        self.acct.consumers.load(Ordering::Relaxed)
    }

    /// The endpoints actually bound (`tcp://127.0.0.1:*` resolved to its port).
    pub fn endpoints(&self) -> (&str, &str) {
        (&self.bound.0, &self.bound.1)
    }

    /// Stops gracefully: workers are told to stop sending, their last batches are
    /// read, the backlog goes to consumers for up to the drain timeout, workers get
    /// their final acknowledgements; then every socket is closed. What could not be
    /// forwarded is counted ([`Accounting`]).
    pub fn stop(mut self) {
        let t = self.drain_timeout;
        self.shutdown(Some(t));
    }

    /// Stops at once: no drain; records held are counted as returned/dropped.
    pub fn terminate(mut self) {
        self.shutdown(None);
    }

    fn shutdown(&mut self, drain: Option<Duration>) {
        let ctl = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = ctl {
            let cmd = match drain {
                Some(t) => format!("DRAIN {}", t.as_millis()),
                None => "TERMINATE".to_string(),
            };
            let _ = c.send(cmd.as_bytes(), 0);
            drop(c);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for m in self.monitors.drain(..) {
            m.stop();
        }
        // The guarded sockets are closed: the ZAP handler can go.
        drop(self.zap.take());
        // All sockets are closed now; terminating the context cannot hang.
        let _ = &self.ctx;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

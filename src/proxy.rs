//! The adaptor's forwarding proxy: XSUB (bound where the workers' publishers connect)
//! → XPUB (bound where consumers subscribe), in its own thread, steerable with
//! PAUSE/RESUME/TERMINATE/STATISTICS over an inproc control socket (the commands of
//! libzmq's `zmq_proxy_steerable`).
//!
//! Unlike a bare `zmq_proxy`, the loop only reads from the workers while at least one
//! consumer subscription exists (counted from the XPUB's verbose subscription
//! messages). With no consumer, records back up into the bounded socket queues and
//! from there into the workers' own queues, where any drop is counted, instead of
//! being forwarded to nobody.
//!
//! The same loop drives the optional reverse channel (SUB → PUSH), where a PUSH with
//! no peer holds messages back the same way.

use crate::ipc_lock::{self, IpcLock, LockError};
use crate::monitor::{self, EventSink, Monitor};
use crate::zmq_util;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: DEFAULT_LISTEN.into(),
            publish: DEFAULT_PUBLISH.into(),
            listen_hwm: 1_000_000,
            publish_hwm: 1_000_000,
            ipc_mode: None,
            ipc_group: None,
            linger: Duration::from_millis(1000),
            capture: false,
        }
    }
}

/// Message and byte counts of one proxy, as reported by libzmq's STATISTICS command.
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
    counters: Arc<Counters>,
    /// Endpoints actually bound (wildcard ports resolved): frontend, backend.
    bound: (String, String),
    /// Locks of the ipc paths bound, held while the proxy runs.
    _locks: Vec<IpcLock>,
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
        if std::path::Path::new(path).exists()
            && std::os::unix::net::UnixStream::connect(path).is_ok()
        {
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

/// Starts socket-event watchers on both sides when an event sink is given.
fn watch_both(
    ctx: &zmq::Context,
    frontend: &zmq::Socket,
    backend: &zmq::Socket,
    labels: (&'static str, &'static str),
    events: &Option<EventSink>,
    counters: &Arc<Counters>,
) -> Result<Vec<Monitor>, ProxyError> {
    let Some(sink) = events else {
        return Ok(Vec::new());
    };
    Ok(vec![
        monitor::watch(ctx, frontend, labels.0, sink.clone(), None)?,
        monitor::watch(
            ctx,
            backend,
            labels.1,
            sink.clone(),
            Some(counters.connections.clone()),
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
    /// Counters shared with the forwarding thread.
    counters: Arc<Counters>,
    /// Forward only while consumer subscriptions exist (XPUB backend).
    gate_on_subscriptions: bool,
    /// Bound/connected endpoints, wildcards resolved.
    bound: (String, String),
    /// Locks of the ipc paths bound.
    locks: Vec<IpcLock>,
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
        let frontend = ctx.socket(zmq::XSUB)?;
        let mut backend = ctx.socket(zmq::XPUB)?;
        for s in [&frontend, &backend] {
            s.set_linger(cfg.linger.as_millis() as i32)?;
        }
        frontend.set_rcvhwm(cfg.listen_hwm)?;
        backend.set_sndhwm(cfg.publish_hwm)?;
        zmq_util::set_xpub_verboser(&mut backend)?;
        let counters = Arc::new(Counters::default());
        let monitors = watch_both(
            &ctx,
            &frontend,
            &backend,
            ("listen", "publish"),
            &events,
            &counters,
        )?;
        let mut locks = Vec::new();
        let f = bind(&frontend, &cfg.listen, &mut locks)?;
        apply_ipc_permissions(&f, cfg)?;
        let b = bind(&backend, &cfg.publish, &mut locks)?;
        apply_ipc_permissions(&b, cfg)?;
        // Subscribe upstream to everything, independent of downstream consumers.
        frontend.send(&[1u8][..], 0)?;
        Self::run(
            ctx,
            Sides {
                frontend,
                backend,
                capture: if cfg.capture { capture } else { None },
                monitors,
                counters,
                gate_on_subscriptions: true,
                bound: (f, b),
                locks,
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
        let frontend = ctx.socket(zmq::SUB)?;
        let backend = ctx.socket(zmq::PUSH)?;
        for s in [&frontend, &backend] {
            s.set_linger(cfg.linger.as_millis() as i32)?;
        }
        frontend.set_subscribe(b"")?;
        let counters = Arc::new(Counters::default());
        let monitors = watch_both(
            &ctx,
            &frontend,
            &backend,
            ("reverse-sub", "reverse-push"),
            &events,
            &counters,
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
                counters,
                gate_on_subscriptions: false,
                bound: (f, b),
                locks,
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
            gate_on_subscriptions,
            bound,
            monitors,
            counters,
            locks,
        } = sides;
        let c2 = counters.clone();
        let thread = std::thread::Builder::new()
            .name("zmq-adaptor-proxy".into())
            .spawn(move || {
                let mut fwd = Forwarder {
                    frontend,
                    backend,
                    control: ctl_proxy,
                    capture,
                    gate_on_subscriptions,
                    counters: c2,
                };
                if let Err(e) = fwd.run() {
                    if e != zmq::Error::ETERM {
                        eprintln!("zmq-adaptor: proxy stopped: {e}");
                    }
                }
            })
            .map_err(|_| ProxyError::Zmq(zmq::Error::EFAULT))?;

        Ok(Proxy {
            ctx,
            control: Mutex::new(Some(ctl_user)),
            thread: Some(thread),
            monitors,
            counters,
            bound,
            _locks: locks,
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
        Ok(self.counters.snapshot())
    }

    /// Consumer subscriptions live on the publish side now (the proxy forwards only
    /// while this is above zero). Always 1 for the reverse channel.
    pub fn subscriptions(&self) -> u64 {
        self.counters.subscriptions.load(Ordering::Relaxed).max(0) as u64
    }

    /// Consumers connected to the publish side now (counted from socket events; 0 when
    /// the proxy was started without an event sink).
    pub fn subscribers(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// The endpoints actually bound (`tcp://127.0.0.1:*` resolved to its port).
    pub fn endpoints(&self) -> (&str, &str) {
        (&self.bound.0, &self.bound.1)
    }

    /// Terminates the proxy and closes every socket. Prompt: bounded by the
    /// configured linger for messages still queued to consumers.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let ctl = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = ctl {
            let _ = c.send(&b"TERMINATE"[..], 0);
            drop(c);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for m in self.monitors.drain(..) {
            m.stop();
        }
        // All sockets are closed now; terminating the context cannot hang.
        let _ = &self.ctx;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counters written by the forwarding thread, read by anyone.
#[derive(Default)]
struct Counters {
    /// Messages (complete, all parts) and bytes from publishers.
    front_in: AtomicU64,
    /// Bytes from publishers.
    front_in_bytes: AtomicU64,
    /// Subscription messages sent upstream.
    front_out: AtomicU64,
    /// Bytes sent upstream.
    front_out_bytes: AtomicU64,
    /// Subscription messages from consumers.
    back_in: AtomicU64,
    /// Bytes from consumers.
    back_in_bytes: AtomicU64,
    /// Messages forwarded to consumers.
    back_out: AtomicU64,
    /// Bytes forwarded to consumers.
    back_out_bytes: AtomicU64,
    /// Live consumer subscriptions (XPUB verboser: +1 per subscribe, -1 per unsubscribe).
    subscriptions: AtomicI64,
    /// Live consumer connections (from the socket monitor).
    connections: Arc<AtomicU64>,
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            frontend_msgs_in: l(&self.front_in),
            frontend_bytes_in: l(&self.front_in_bytes),
            frontend_msgs_out: l(&self.front_out),
            frontend_bytes_out: l(&self.front_out_bytes),
            backend_msgs_in: l(&self.back_in),
            backend_bytes_in: l(&self.back_in_bytes),
            backend_msgs_out: l(&self.back_out),
            backend_bytes_out: l(&self.back_out_bytes),
        }
    }
}

/// Most messages moved per wake-up before control and subscriptions are looked at.
const BURST: usize = 1000;

/// The forwarding loop's state, owned by its thread.
struct Forwarder {
    /// Source of messages.
    frontend: zmq::Socket,
    /// Destination of messages; for XPUB, also the source of subscriptions.
    backend: zmq::Socket,
    /// Commands: PAUSE, RESUME, TERMINATE, STATISTICS.
    control: zmq::Socket,
    /// Debug hook.
    capture: Option<CaptureFn>,
    /// Hold messages back while no consumer subscription exists.
    gate_on_subscriptions: bool,
    /// Shared counters.
    counters: Arc<Counters>,
}

impl Forwarder {
    fn run(&mut self) -> zmq::Result<()> {
        let mut paused = false;
        // A message part the backend refused (EAGAIN), kept until it takes it.
        let mut held: Option<(zmq::Message, bool)> = None;
        // Whether the frontend is in the middle of a multipart message.
        let mut in_multipart = false;
        loop {
            let subs = self.counters.subscriptions.load(Ordering::Relaxed);
            let open = !paused && (!self.gate_on_subscriptions || subs > 0 || in_multipart);
            let want_front = open && held.is_none();
            let back_events = match (self.gate_on_subscriptions, held.is_some()) {
                (true, true) => zmq::POLLIN | zmq::POLLOUT,
                (true, false) => zmq::POLLIN,
                (false, true) => zmq::POLLOUT,
                (false, false) => zmq::PollEvents::empty(),
            };
            let mut items = [
                self.control.as_poll_item(zmq::POLLIN),
                self.backend.as_poll_item(back_events),
                self.frontend.as_poll_item(if want_front {
                    zmq::POLLIN
                } else {
                    zmq::PollEvents::empty()
                }),
            ];
            zmq::poll(&mut items, if held.is_some() { 10 } else { -1 })?;
            let (ctl_ready, back_in, front_ready) = (
                items[0].is_readable(),
                items[1].is_readable(),
                items[2].is_readable(),
            );
            if ctl_ready {
                match self.control.recv_bytes(zmq::DONTWAIT) {
                    Ok(cmd) => match cmd.as_slice() {
                        b"PAUSE" => paused = true,
                        b"RESUME" => paused = false,
                        b"TERMINATE" => return Ok(()),
                        b"STATISTICS" => self.reply_stats()?,
                        _ => {}
                    },
                    Err(zmq::Error::EAGAIN) => {}
                    Err(e) => return Err(e),
                }
            }
            if back_in {
                self.read_subscriptions()?;
            }
            if let Some((msg, more)) = held.take() {
                held = self.forward(msg, more)?;
                if held.is_some() {
                    continue;
                }
            }
            if front_ready {
                for _ in 0..BURST {
                    let mut msg = zmq::Message::new();
                    match self.frontend.recv(&mut msg, zmq::DONTWAIT) {
                        Ok(()) => {}
                        Err(zmq::Error::EAGAIN) => break,
                        Err(e) => return Err(e),
                    }
                    let more = msg.get_more();
                    in_multipart = more;
                    self.counters
                        .front_in_bytes
                        .fetch_add(msg.len() as u64, Ordering::Relaxed);
                    if !more {
                        self.counters.front_in.fetch_add(1, Ordering::Relaxed);
                    }
                    held = self.forward(msg, more)?;
                    if held.is_some() {
                        break;
                    }
                    // Finish a multipart message even if a command or unsubscription
                    // is waiting; otherwise yield to them after the burst.
                    if !more
                        && self.gate_on_subscriptions
                        && self.counters.subscriptions.load(Ordering::Relaxed) <= 0
                    {
                        break;
                    }
                }
            }
        }
    }

    /// Sends one part to the backend; returns it back when the backend refused it.
    fn forward(
        &mut self,
        msg: zmq::Message,
        more: bool,
    ) -> zmq::Result<Option<(zmq::Message, bool)>> {
        let len = msg.len() as u64;
        if let Some(f) = self.capture.as_mut() {
            f(Captured::Message, &msg, more);
        }
        let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
        // The zmq crate consumes the message on send; keep a copy only when the
        // backend can refuse (PUSH without peers). XPUB (lossy) never refuses.
        if self.gate_on_subscriptions {
            self.backend.send(msg, flags)?;
        } else {
            let keep = zmq::Message::from(&msg[..]);
            match self.backend.send(msg, flags) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Ok(Some((keep, more))),
                Err(e) => return Err(e),
            }
        }
        self.counters
            .back_out_bytes
            .fetch_add(len, Ordering::Relaxed);
        if !more {
            self.counters.back_out.fetch_add(1, Ordering::Relaxed);
        }
        Ok(None)
    }

    /// Counts consumer (un)subscriptions arriving on the XPUB.
    fn read_subscriptions(&mut self) -> zmq::Result<()> {
        loop {
            let mut msg = zmq::Message::new();
            match self.backend.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Ok(()),
                Err(e) => return Err(e),
            }
            self.counters.back_in.fetch_add(1, Ordering::Relaxed);
            self.counters
                .back_in_bytes
                .fetch_add(msg.len() as u64, Ordering::Relaxed);
            match msg.first() {
                Some(1) => {
                    self.counters.subscriptions.fetch_add(1, Ordering::Relaxed);
                }
                Some(0) => {
                    self.counters.subscriptions.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
            if let Some(f) = self.capture.as_mut() {
                f(Captured::Subscription, &msg, false);
            }
        }
    }

    fn reply_stats(&self) -> zmq::Result<()> {
        let s = self.counters.snapshot();
        let v = [
            s.frontend_msgs_in,
            s.frontend_bytes_in,
            s.frontend_msgs_out,
            s.frontend_bytes_out,
            s.backend_msgs_in,
            s.backend_bytes_in,
            s.backend_msgs_out,
            s.backend_bytes_out,
        ];
        for (i, x) in v.iter().enumerate() {
            let flags = if i + 1 < v.len() { zmq::SNDMORE } else { 0 };
            self.control.send(&x.to_ne_bytes()[..], flags)?;
        }
        Ok(())
    }
}

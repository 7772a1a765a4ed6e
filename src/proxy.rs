//! The adaptor's forwarding proxy: XSUB (bound where the workers' publishers connect)
//! → XPUB (bound where consumers subscribe), run by libzmq's steerable proxy in its
//! own thread, with pause/resume/terminate/statistics over an inproc control socket.
//!
//! The same runner also drives the optional reverse channel (SUB → PUSH).

use crate::monitor::{self, EventSink, Monitor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
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
            ProxyError::Zmq(e) => write!(f, "libzmq: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {}

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

/// Called with every message part crossing the proxy when capture is on.
pub type CaptureFn = Box<dyn FnMut(&[u8], bool) + Send>;

/// A running steerable proxy between two sockets. Stopped by [`Proxy::stop`] or drop.
pub struct Proxy {
    /// Owns every socket of this proxy; dropped last.
    ctx: zmq::Context,
    /// Controller end of the inproc PAIR the proxy thread listens to.
    control: Mutex<Option<zmq::Socket>>,
    /// The thread running `zmq_proxy_steerable`.
    thread: Option<JoinHandle<()>>,
    /// The thread printing captured messages (debug mode).
    capture_thread: Option<JoinHandle<()>>,
    /// Socket-event watchers of both sides.
    monitors: Vec<Monitor>,
    /// Live consumer connections on the backend (from its monitor).
    subscribers: std::sync::Arc<AtomicU64>,
    /// Endpoints actually bound (wildcard ports resolved): frontend, backend.
    bound: (String, String),
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

fn bind(sock: &zmq::Socket, endpoint: &str) -> Result<String, ProxyError> {
    validate(endpoint)?;
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

/// Two sockets ready to be joined by a proxy, plus what runs beside it.
struct Sides {
    frontend: zmq::Socket,
    backend: zmq::Socket,
    capture: Option<CaptureFn>,
    events: Option<EventSink>,
    bound: (String, String),
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
        let backend = ctx.socket(zmq::XPUB)?;
        for s in [&frontend, &backend] {
            s.set_linger(cfg.linger.as_millis() as i32)?;
        }
        frontend.set_rcvhwm(cfg.listen_hwm)?;
        backend.set_sndhwm(cfg.publish_hwm)?;
        backend.set_xpub_verbose(true)?;
        let f = bind(&frontend, &cfg.listen)?;
        apply_ipc_permissions(&f, cfg)?;
        let b = bind(&backend, &cfg.publish)?;
        apply_ipc_permissions(&b, cfg)?;
        // Subscribe upstream to everything, independent of downstream consumers.
        frontend.send(&[1u8][..], 0)?;
        Self::run(
            ctx,
            Sides {
                frontend,
                backend,
                capture: if cfg.capture { capture } else { None },
                events,
                bound: (f, b),
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
        let f = if bind_listen {
            bind(&frontend, listen)?
        } else {
            validate(listen)?;
            frontend.connect(listen).map_err(|err| ProxyError::Bind {
                endpoint: listen.to_string(),
                err,
            })?;
            listen.to_string()
        };
        let b = bind(&backend, push)?;
        apply_ipc_permissions(&b, cfg)?;
        Self::run(
            ctx,
            Sides {
                frontend,
                backend,
                capture: if cfg.capture { capture } else { None },
                events,
                bound: (f, b),
            },
        )
    }

    fn run(ctx: zmq::Context, sides: Sides) -> Result<Proxy, ProxyError> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let ctl_ep = format!("inproc://zmq-adaptor-control-{id}");
        let cap_ep = format!("inproc://zmq-adaptor-capture-{id}");
        let ctl_proxy = ctx.socket(zmq::PAIR)?;
        ctl_proxy.set_linger(0)?;
        ctl_proxy.bind(&ctl_ep)?;
        let ctl_user = ctx.socket(zmq::PAIR)?;
        ctl_user.set_linger(0)?;
        ctl_user.connect(&ctl_ep)?;

        let subscribers = std::sync::Arc::new(AtomicU64::new(0));
        let mut monitors = Vec::new();
        if let Some(sink) = &sides.events {
            monitors.push(monitor::watch(
                &ctx,
                &sides.frontend,
                "listen",
                sink.clone(),
                None,
            )?);
            monitors.push(monitor::watch(
                &ctx,
                &sides.backend,
                "publish",
                sink.clone(),
                Some(subscribers.clone()),
            )?);
        }

        let capture_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (mut capture_sock, capture_thread) = match sides.capture {
            Some(mut f) => {
                let push = ctx.socket(zmq::PAIR)?;
                push.set_linger(0)?;
                push.bind(&cap_ep)?;
                let pull = ctx.socket(zmq::PAIR)?;
                pull.set_linger(0)?;
                pull.connect(&cap_ep)?;
                let done = capture_done.clone();
                let t = std::thread::Builder::new()
                    .name("zmq-adaptor-capture".into())
                    .spawn(move || loop {
                        // Polls in slices so the stop flag is seen within 100 ms.
                        match pull.recv_msg(zmq::DONTWAIT) {
                            Ok(msg) => f(&msg, msg.get_more()),
                            Err(zmq::Error::EAGAIN) => {
                                if done.load(Ordering::Acquire) {
                                    break;
                                }
                                let _ = pull.poll(zmq::POLLIN, 100);
                            }
                            Err(_) => break,
                        }
                    })
                    .map_err(|_| ProxyError::Zmq(zmq::Error::EFAULT))?;
                (Some(push), Some(t))
            }
            None => (None, None),
        };

        let Sides {
            frontend, backend, ..
        } = sides;
        let thread = std::thread::Builder::new()
            .name("zmq-adaptor-proxy".into())
            .spawn(move || {
                let (mut frontend, mut backend, mut ctl_proxy) = (frontend, backend, ctl_proxy);
                let r = match capture_sock.as_mut() {
                    Some(c) => zmq::proxy_steerable_with_capture(
                        &mut frontend,
                        &mut backend,
                        c,
                        &mut ctl_proxy,
                    ),
                    None => zmq::proxy_steerable(&mut frontend, &mut backend, &mut ctl_proxy),
                };
                if let Err(e) = r {
                    if e != zmq::Error::ETERM {
                        eprintln!("zmq-adaptor: proxy stopped: {e}");
                    }
                }
                drop(capture_sock);
                capture_done.store(true, Ordering::Release);
                drop(ctl_proxy);
                drop(frontend);
                drop(backend);
            })
            .map_err(|_| ProxyError::Zmq(zmq::Error::EFAULT))?;

        Ok(Proxy {
            ctx,
            control: Mutex::new(Some(ctl_user)),
            thread: Some(thread),
            capture_thread,
            monitors,
            subscribers,
            bound: sides.bound,
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

    /// Message and byte counters from libzmq (bounded wait of 1 s for the reply).
    pub fn stats(&self) -> Result<ProxyStats, ProxyError> {
        let g = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let c = g.as_ref().ok_or(ProxyError::Zmq(zmq::Error::ETERM))?;
        c.send(&b"STATISTICS"[..], 0)?;
        if c.poll(zmq::POLLIN, 1000)? == 0 {
            return Err(ProxyError::Zmq(zmq::Error::EAGAIN));
        }
        let parts = c.recv_multipart(0)?;
        let mut v = [0u64; 8];
        for (slot, p) in v.iter_mut().zip(parts.iter()) {
            if let Ok(b) = <[u8; 8]>::try_from(p.as_slice()) {
                *slot = u64::from_ne_bytes(b);
            }
        }
        Ok(ProxyStats {
            frontend_msgs_in: v[0],
            frontend_bytes_in: v[1],
            frontend_msgs_out: v[2],
            frontend_bytes_out: v[3],
            backend_msgs_in: v[4],
            backend_bytes_in: v[5],
            backend_msgs_out: v[6],
            backend_bytes_out: v[7],
        })
    }

    /// Consumers connected to the publish side now (counted from socket events; 0 when
    /// the proxy was started without an event sink).
    pub fn subscribers(&self) -> u64 {
        self.subscribers.load(Ordering::Relaxed)
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
        if let Some(t) = self.capture_thread.take() {
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

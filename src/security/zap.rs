//! A ZAP handler (ZeroMQ RFC 27): libzmq asks it, for every handshake on a socket with
//! a ZAP domain, whether the peer may connect. It runs in its own thread on a REP
//! socket bound at `inproc://zeromq.zap.01` in the same `zmq::Context` as the sockets
//! it guards, and must be started before they bind.
//!
//! Decisions, in order:
//! 1. a tcp peer whose address is outside the allow-list (`--allow CIDR`, when any
//!    is given) is refused, whatever its mechanism;
//! 2. with CURVE on, a NULL (or PLAIN) peer is refused; a CURVE peer is admitted when
//!    any key is allowed (`--curve-allow-any`) or when its public key has a `*.key`
//!    certificate in the client directory (`--curve-clients DIR`);
//! 3. with CURVE off, NULL peers that passed 1 are admitted.
//!
//! Every refusal adds one to [`ZapHandler::auth_failures`] and is logged, at most one
//! line a second (the next line says how many were not shown). ZAP runs only at
//! handshake: [`ZapHandler::reload`] changes who may connect from then on, peers
//! already connected stay connected.

use super::cert::{load_client_dir, ClientKeyDir, PublicKey};
use super::SecurityError;
use crate::monitor::SocketEvent;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where libzmq looks for the ZAP handler of a context (RFC 27).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// Where the handler's log lines go (e.g. a closure writing to stderr with a
/// timestamp). Called at most once a second for refusals.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Which CURVE clients are admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurvePolicy {
    /// No CURVE: NULL peers are admitted (subject to the address allow-list).
    Off,
    /// Any CURVE client key (`--curve-allow-any`): traffic is encrypted, but anyone who
    /// knows the server's public key may connect. NULL peers are refused.
    AllowAny,
    /// Only client keys with a `*.key` certificate in this directory
    /// (`--curve-clients DIR`). NULL peers are refused.
    Clients(PathBuf),
}

/// What the ZAP handler admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapPolicy {
    /// CURVE client policy.
    pub curve: CurvePolicy,
    /// Address allow-list for tcp peers (`--allow`); empty admits every address.
    pub allow: Vec<IpNet>,
}

impl Default for ZapPolicy {
    fn default() -> Self {
        ZapPolicy {
            curve: CurvePolicy::Off,
            allow: Vec::new(),
        }
    }
}

/// Parses one `--allow` value: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single
/// address (`192.0.2.7`, `::1`).
pub fn parse_cidr(s: &str) -> Result<IpNet, SecurityError> {
    let t = s.trim();
    t.parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| SecurityError::BadCidr(s.to_string()))
}

/// The peer address of a ZAP request as an IP address (`None` for ipc/inproc peers,
/// whose address is not an IP). IPv4-mapped IPv6 addresses become IPv4.
fn peer_ip(address: &str) -> Option<IpAddr> {
    let a = address.trim_start_matches('[').trim_end_matches(']');
    let a = a.split('%').next().unwrap_or(a);
    a.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// State shared by the handler thread and its owners.
struct Shared {
    /// The policy (the client directory's content lives in `clients`).
    policy: ZapPolicy,
    /// Allowed client keys, swapped whole by `reload`.
    clients: Mutex<Arc<ClientKeyDir>>,
    /// Refused handshakes (ZAP refusals plus those reported by [`AuthReporter::on_socket_event`]).
    auth_failures: Arc<AtomicU64>,
    /// Admitted handshakes.
    admitted: AtomicU64,
    /// Rate limit of refusal log lines.
    limiter: Mutex<Limiter>,
    /// Where log lines go.
    log: LogSink,
}

#[derive(Default)]
struct Limiter {
    last: Option<Instant>,
    suppressed: u64,
}

/// Smallest interval between two refusal log lines.
const LOG_EVERY: Duration = Duration::from_secs(1);

impl Shared {
    fn refused(&self, line: &str) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
        let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if l.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            l.suppressed += 1;
            return;
        }
        let extra = match l.suppressed {
            0 => String::new(),
            n => format!(" ({n} more refused since the last line)"),
        };
        l.last = Some(now);
        l.suppressed = 0;
        drop(l);
        (self.log)(&format!("auth: refused {line}{extra}"));
    }

    /// Decides one request: (status code, status text, user id).
    fn decide(
        &self,
        domain: &str,
        address: &str,
        mechanism: &str,
        credentials: &[Vec<u8>],
    ) -> (&'static str, &'static str, String) {
        let who = |m: &str| {
            let addr = if address.is_empty() {
                "(local)"
            } else {
                address
            };
            format!("{m} peer {addr} on '{domain}'")
        };
        if !self.policy.allow.is_empty() {
            if let Some(ip) = peer_ip(address) {
                if !self.policy.allow.iter().any(|n| n.contains(&ip)) {
                    self.refused(&format!("{}: address not in --allow", who(mechanism)));
                    return ("400", "address not allowed", String::new());
                }
            }
        }
        match (mechanism, &self.policy.curve) {
            ("NULL", CurvePolicy::Off) => ("200", "OK", String::new()),
            ("CURVE", CurvePolicy::Off | CurvePolicy::AllowAny) => ("200", "OK", String::new()),
            ("CURVE", CurvePolicy::Clients(_)) => {
                let key = credentials
                    .first()
                    .and_then(|c| <[u8; 32]>::try_from(c.as_slice()).ok())
                    .map(PublicKey::from_bytes);
                let Some(key) = key else {
                    self.refused(&format!("{}: no client key", who(mechanism)));
                    return ("400", "no client key", String::new());
                };
                let clients = self
                    .clients
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                match clients.keys.get(&key) {
                    Some(name) => ("200", "OK", name.clone()),
                    None => {
                        self.refused(&format!(
                            "{}: client key {key} has no certificate in --curve-clients",
                            who(mechanism)
                        ));
                        ("400", "unknown client key", String::new())
                    }
                }
            }
            (m, CurvePolicy::AllowAny | CurvePolicy::Clients(_)) => {
                self.refused(&format!("{}: CURVE required", who(m)));
                ("400", "CURVE required", String::new())
            }
            (m, CurvePolicy::Off) => {
                self.refused(&format!("{}: mechanism not supported", who(m)));
                ("400", "mechanism not supported", String::new())
            }
        }
    }

    /// Answers one request (all frames); `None` when it is not a ZAP 1.0 request.
    fn answer(&self, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let text = |i: usize| {
            frames
                .get(i)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .unwrap_or_default()
        };
        let request_id = frames.get(1).cloned().unwrap_or_default();
        let (status, status_text, user) = if frames.len() < 6 || frames[0] != b"1.0" {
            ("500", "malformed ZAP request", String::new())
        } else {
            let (domain, address, mechanism) = (text(2), text(3), text(5));
            self.decide(&domain, &address, &mechanism, &frames[6..])
        };
        if status == "200" {
            self.admitted.fetch_add(1, Ordering::Relaxed);
        }
        vec![
            b"1.0".to_vec(),
            request_id,
            status.as_bytes().to_vec(),
            status_text.as_bytes().to_vec(),
            user.into_bytes(),
            Vec::new(),
        ]
    }
}

/// The admission state shared by every ZAP handler of one adaptor: the policy, the
/// allowed client keys (one reload applies everywhere), the refusal counter and the
/// log rate limit. Cheap to clone; [`Guard::start`] runs a handler in one context
/// (libzmq looks for it per context, and each proxy has its own).
#[derive(Clone)]
pub struct Guard {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("policy", &self.shared.policy)
            .field("client_keys", &self.client_keys())
            .field(
                "auth_failures",
                &self.auth_failures().load(Ordering::Relaxed),
            )
            .finish()
    }
}

impl Guard {
    /// Loads the client directory when the policy names one (an error refuses to
    /// start: missing, unreadable, writable by others, or a malformed `*.key`).
    pub fn new(policy: ZapPolicy, log: LogSink) -> Result<Guard, SecurityError> {
        let clients = match &policy.curve {
            CurvePolicy::Clients(dir) => load_client_dir(dir)?,
            _ => ClientKeyDir::default(),
        };
        Ok(Guard {
            shared: Arc::new(Shared {
                policy,
                clients: Mutex::new(Arc::new(clients)),
                auth_failures: Arc::new(AtomicU64::new(0)),
                admitted: AtomicU64::new(0),
                limiter: Mutex::new(Limiter::default()),
                log,
            }),
        })
    }

    /// Binds the ZAP endpoint in `ctx` and starts answering in a thread. Returns once
    /// the endpoint is bound: sockets bound afterwards are guarded from their first
    /// handshake.
    pub fn start(&self, ctx: &zmq::Context) -> Result<ZapHandler, SecurityError> {
        let zerr = |what: &str| {
            let what = what.to_string();
            move |err| SecurityError::Zmq { what, err }
        };
        let sock = ctx.socket(zmq::REP).map_err(zerr("ZAP socket"))?;
        sock.set_linger(0).map_err(zerr("ZAP socket"))?;
        sock.bind(ZAP_ENDPOINT).map_err(|err| SecurityError::Zmq {
            what: if err == zmq::Error::EADDRINUSE {
                format!("{ZAP_ENDPOINT}: another ZAP handler already runs in this context")
            } else {
                format!("binding {ZAP_ENDPOINT}")
            },
            err,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (sh, st) = (self.shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("zmq-adaptor-zap".into())
            .spawn(move || {
                while !st.load(Ordering::Acquire) {
                    match sock.poll(zmq::POLLIN, 100) {
                        Ok(n) if n > 0 => {}
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                    let frames = match sock.recv_multipart(zmq::DONTWAIT) {
                        Ok(f) => f,
                        Err(zmq::Error::EAGAIN) => continue,
                        Err(_) => break,
                    };
                    let reply = sh.answer(&frames);
                    if sock.send_multipart(reply, 0).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| SecurityError::Zmq {
                what: format!("starting the ZAP thread: {e}"),
                err: zmq::Error::EFAULT,
            })?;
        Ok(ZapHandler {
            guard: self.clone(),
            stop,
            thread: Some(thread),
        })
    }

    /// Re-reads the client directory (`--curve-clients`), all or nothing: on any
    /// error the previous keys stay in force and the error says which file is wrong.
    /// Returns how many keys are allowed now (0 when the policy has no directory).
    /// Connected peers are not affected; the new keys apply from the next handshake.
    pub fn reload(&self) -> Result<usize, SecurityError> {
        let CurvePolicy::Clients(dir) = &self.shared.policy.curve else {
            return Ok(0);
        };
        let fresh = Arc::new(load_client_dir(dir)?);
        let n = fresh.len();
        *self
            .shared
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(n)
    }

    /// How many client keys are allowed now.
    pub fn client_keys(&self) -> usize {
        self.shared
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The refused-handshake counter (`zmq_adaptor_auth_failures_total`).
    pub fn auth_failures(&self) -> Arc<AtomicU64> {
        self.shared.auth_failures.clone()
    }

    /// Handshakes admitted so far.
    pub fn admitted(&self) -> u64 {
        self.shared.admitted.load(Ordering::Relaxed)
    }

    /// The policy in force.
    pub fn policy(&self) -> &ZapPolicy {
        &self.shared.policy
    }

    /// A handle that counts refusals seen elsewhere (socket monitors), for handshakes
    /// that fail before they reach ZAP.
    pub fn reporter(&self) -> AuthReporter {
        AuthReporter(self.shared.clone())
    }
}

/// A running ZAP handler in one context. Stop it ([`ZapHandler::stop`] or drop) only
/// after the sockets it guards are closed; until then, sockets set up by
/// [`super::apply_server`] refuse every handshake (they enforce the ZAP domain).
/// Dereferences to its [`Guard`] (reload, counters).
pub struct ZapHandler {
    guard: Guard,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ZapHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.guard.fmt(f)
    }
}

impl std::ops::Deref for ZapHandler {
    type Target = Guard;
    fn deref(&self) -> &Guard {
        &self.guard
    }
}

impl ZapHandler {
    /// [`Guard::new`] and [`Guard::start`] in one call, for a single context.
    pub fn start(
        ctx: &zmq::Context,
        policy: ZapPolicy,
        log: LogSink,
    ) -> Result<ZapHandler, SecurityError> {
        Guard::new(policy, log)?.start(ctx)
    }

    /// The shared admission state.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Stops answering and closes the ZAP socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counts and logs refused handshakes that never reach the ZAP handler: a NULL client
/// on a CURVE server (mechanism mismatch) or a CURVE client with the wrong server key
/// fail inside libzmq, and only the socket monitor sees them.
#[derive(Clone)]
pub struct AuthReporter(Arc<Shared>);

impl std::fmt::Debug for AuthReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthReporter")
    }
}

impl AuthReporter {
    /// Counts (and rate-limits the log line of) one refusal described by `what`.
    pub fn refused(&self, what: &str) {
        self.0.refused(what);
    }

    /// Takes a socket event from a monitor of a guarded socket. Handshake failures
    /// are consumed (returns true): protocol failures (mechanism mismatch, bad CURVE
    /// keys) are counted here; authentication failures were already counted when the
    /// handler refused them. Other events return false.
    pub fn on_socket_event(&self, e: &SocketEvent) -> bool {
        match e.kind {
            "handshake-failed-protocol" | "handshake-failed-no-detail" => {
                let why = match e.value {
                    0x1100_0002 => {
                        "mechanism mismatch (a NULL client on a CURVE socket?)".to_string()
                    }
                    0x1100_0001 => "bad CURVE handshake (wrong server key?)".to_string(),
                    v => format!("handshake failed (code {v:#x})"),
                };
                self.0
                    .refused(&format!("peer on {} ({}): {why}", e.side, e.endpoint));
                true
            }
            "handshake-failed-auth" => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_addresses() {
        assert_eq!(
            parse_cidr("10.1.2.3/8").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_cidr("192.0.2.7").unwrap(),
            "192.0.2.7/32".parse::<IpNet>().unwrap()
        );
        assert!(parse_cidr("2001:db8::/32").is_ok());
        assert!(parse_cidr("::1").is_ok());
        for bad in ["10.0.0.0/33", "example.com", "", "10.0.0/8"] {
            let e = parse_cidr(bad).unwrap_err();
            assert!(e.to_string().contains("CIDR"), "{e}");
        }
        assert_eq!(
            peer_ip("::ffff:10.0.0.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(peer_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(peer_ip(""), None);
    }

    fn shared(policy: ZapPolicy, log: LogSink) -> Shared {
        Shared {
            policy,
            clients: Mutex::new(Arc::new(ClientKeyDir::default())),
            auth_failures: Arc::new(AtomicU64::new(0)),
            admitted: AtomicU64::new(0),
            limiter: Mutex::new(Limiter::default()),
            log,
        }
    }

    #[test]
    fn refusal_lines_are_rate_limited_and_counted() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let l2 = lines.clone();
        let s = shared(
            ZapPolicy {
                curve: CurvePolicy::AllowAny,
                allow: vec![parse_cidr("10.0.0.0/8").unwrap()],
            },
            Arc::new(move |m: &str| l2.lock().unwrap().push(m.to_string())),
        );
        for _ in 0..50 {
            assert_eq!(s.decide("publish", "192.0.2.1", "CURVE", &[]).0, "400");
            assert_eq!(s.decide("publish", "10.0.0.1", "NULL", &[]).0, "400");
        }
        assert_eq!(s.decide("publish", "10.0.0.1", "CURVE", &[]).0, "200");
        assert_eq!(
            s.decide("publish", "::ffff:10.9.9.9", "CURVE", &[]).0,
            "200"
        );
        assert_eq!(s.auth_failures.load(Ordering::Relaxed), 100);
        let got = lines.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("auth: refused CURVE peer 192.0.2.1"),
            "{got:?}"
        );
        s.limiter.lock().unwrap().last = Some(Instant::now() - LOG_EVERY);
        s.decide("publish", "10.0.0.1", "PLAIN", &[]);
        let got = lines.lock().unwrap().clone();
        assert_eq!(got.len(), 2);
        assert!(got[1].contains("CURVE required"), "{got:?}");
        assert!(got[1].contains("(99 more refused"), "{got:?}");
    }

    #[test]
    fn malformed_requests_get_500() {
        let s = shared(ZapPolicy::default(), Arc::new(|_: &str| {}));
        let r = s.answer(&[b"2.0".to_vec(), b"7".to_vec()]);
        assert_eq!(r[1], b"7");
        assert_eq!(r[2], b"500");
        let ok = s.answer(&[
            b"1.0".to_vec(),
            b"8".to_vec(),
            b"d".to_vec(),
            b"127.0.0.1".to_vec(),
            Vec::new(),
            b"NULL".to_vec(),
        ]);
        assert_eq!(ok[2], b"200");
    }
}

//! Security with real ZeroMQ peers: certificates made by pyzmq and by `keygen`, an XPUB
//! CURVE server guarded by the ZAP handler, Rust and pyzmq SUB clients, key reload,
//! the address allow-list, and IPC path checks.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zmq_adaptor::security::{
    self, apply_client, apply_server, ClientKeys, CurvePolicy, KeyPair, SecurityError,
    ServerSecurity, ZapHandler, ZapPolicy,
};

const PYTHON: &str = "/usr/bin/python3";

/// Creates `dir/name.key` + `dir/name.key_secret` with pyzmq's
/// `zmq.auth.create_certificates`; returns both paths. The secret file is left as
/// pyzmq writes it (0644 under the usual umask).
fn pyzmq_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let out = Command::new(PYTHON)
        .args([
            "-c",
            "import sys, zmq.auth; print(*zmq.auth.create_certificates(sys.argv[1], sys.argv[2]))",
        ])
        .arg(dir)
        .arg(name)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pyzmq: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.key_secret")),
    )
}

/// pyzmq's reading of a certificate: (public, secret or "None").
fn pyzmq_load(path: &Path) -> (String, String) {
    let out = Command::new(PYTHON)
        .args([
            "-c",
            "import sys, zmq.auth; p, s = zmq.auth.load_certificate(sys.argv[1]); \
             print(p.decode()); print(s.decode() if s else 'None')",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut l = text.lines();
    (l.next().unwrap().into(), l.next().unwrap().into())
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until `f` holds.
fn wait_until(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// An XPUB publishing `tick` every 5 ms on tcp, optionally a CURVE server, guarded by
/// a ZAP handler in the same context, with a monitor feeding handshake failures to the
/// handler's reporter.
struct Server {
    endpoint: String,
    zap: Option<ZapHandler>,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _monitor: Option<zmq_adaptor::monitor::Monitor>,
    _ctx: zmq::Context,
}

impl Server {
    fn start(bind: &str, curve: Option<KeyPair>, policy: Option<ZapPolicy>) -> Server {
        let ctx = zmq::Context::new();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let zap = policy.map(|p| {
            ZapHandler::start(
                &ctx,
                p,
                Arc::new(move |m: &str| l2.lock().unwrap().push(m.to_string())),
            )
            .unwrap()
        });
        let mut sock = ctx.socket(zmq::XPUB).unwrap();
        sock.set_linger(0).unwrap();
        sock.set_ipv6(true).unwrap();
        apply_server(
            &mut sock,
            &ServerSecurity {
                curve,
                zap_domain: "publish".into(),
            },
        )
        .unwrap();
        let monitor = zap.as_ref().map(|z| {
            let r = z.reporter();
            zmq_adaptor::monitor::watch(
                &ctx,
                &sock,
                "publish",
                Arc::new(move |e: &zmq_adaptor::monitor::SocketEvent| {
                    r.on_socket_event(e);
                }),
                None,
            )
            .unwrap()
        });
        sock.bind(bind).unwrap();
        let endpoint = sock.get_last_endpoint().unwrap().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                let _ = sock.send(&b"tick"[..], zmq::DONTWAIT);
                // Service subscriptions so the XPUB sees its peers.
                while sock.recv_bytes(zmq::DONTWAIT).is_ok() {}
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Server {
            endpoint,
            zap,
            lines,
            stop,
            thread: Some(thread),
            _monitor: monitor,
            _ctx: ctx,
        }
    }

    fn failures(&self) -> u64 {
        self.zap
            .as_ref()
            .map(|z| z.auth_failures().load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A SUB client in its own context and thread, counting what it receives (and,
/// apart, the records whose text starts with `x-`).
struct Client {
    got: Arc<AtomicUsize>,
    x: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Client {
    fn connect(endpoint: &str, keys: Option<&ClientKeys>) -> Client {
        let ctx = zmq::Context::new();
        let sock = ctx.socket(zmq::SUB).unwrap();
        sock.set_linger(0).unwrap();
        sock.set_ipv6(true).unwrap();
        sock.set_subscribe(b"").unwrap();
        if let Some(k) = keys {
            apply_client(&sock, k).unwrap();
        }
        sock.connect(endpoint).unwrap();
        let got = Arc::new(AtomicUsize::new(0));
        let x = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, gx, st) = (got.clone(), x.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let _ctx = ctx;
            while !st.load(Ordering::Acquire) {
                if sock.poll(zmq::POLLIN, 20).unwrap_or(0) > 0 {
                    while let Ok(m) = sock.recv_bytes(zmq::DONTWAIT) {
                        g.fetch_add(1, Ordering::Relaxed);
                        if m.starts_with(b"x-") {
                            gx.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Client {
            got,
            x,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.got.load(Ordering::Relaxed)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A pyzmq SUB with a pyzmq-made certificate, receiving for `secs`; prints its count.
fn pyzmq_client(endpoint: &str, server_public: &Path, client_secret: &Path, secs: f64) -> Proc {
    let script = "import sys, time, zmq, zmq.auth\n\
        ep, server, client, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])\n\
        ctx = zmq.Context(); s = ctx.socket(zmq.SUB); s.linger = 0\n\
        pub, sec = zmq.auth.load_certificate(client)\n\
        s.curve_publickey = pub; s.curve_secretkey = sec\n\
        s.curve_serverkey = zmq.auth.load_certificate(server)[0]\n\
        s.setsockopt(zmq.SUBSCRIBE, b''); s.connect(ep)\n\
        n = 0; end = time.time() + secs\n\
        while time.time() < end:\n\
        \x20   if s.poll(50): s.recv(); n += 1\n\
        print(n, flush=True)\n";
    Proc(
        Command::new(PYTHON)
            .args(["-c", script, endpoint])
            .arg(server_public)
            .arg(client_secret)
            .arg(secs.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn proc_output_count(mut p: Proc) -> usize {
    assert_eq!(
        p.wait(Duration::from_secs(30)),
        Some(0),
        "pyzmq client exits"
    );
    let mut s = String::new();
    use std::io::Read;
    p.0.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    s.trim().parse().unwrap()
}

/// Client keys from certificate files: the server's public cert and our secret cert.
fn client_keys(server_public: &Path, client_secret: &Path) -> ClientKeys {
    chmod(client_secret, 0o600);
    ClientKeys {
        server: security::load_public(server_public).unwrap(),
        keys: security::load_secret(client_secret).unwrap(),
    }
}

#[test]
fn pyzmq_certificates_load_and_keygen_output_reads_in_pyzmq() {
    let d = tempdir();
    let (public, secret) = pyzmq_cert(d.path(), "billing");
    let (py_pub, py_sec) = pyzmq_load(&secret);
    assert_eq!(security::load_public(&public).unwrap().to_z85(), py_pub);
    // pyzmq leaves the secret readable by others: refused until chmod 600.
    chmod(&secret, 0o644);
    let e = security::load_secret(&secret).unwrap_err();
    assert!(matches!(e, SecurityError::TooOpen { .. }), "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    assert!(
        !e.to_string().contains(&py_sec),
        "never shows the secret: {e}"
    );
    chmod(&secret, 0o600);
    let kp = security::load_secret(&secret).unwrap();
    assert_eq!(kp.public.to_z85(), py_pub);
    assert_eq!(
        zmq::z85_encode(kp.secret.as_bytes()).unwrap(),
        py_sec,
        "same secret as pyzmq reads"
    );

    // keygen: directory created, modes, pyzmq reads the same keys back.
    let base = d.path().join("new/sub/server");
    let g = security::keygen(&base).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&g.secret_file), 0o600);
    assert_eq!(mode(&g.public_file), 0o644);
    assert!(d.path().join("new/sub").is_dir());
    let (p1, s1) = pyzmq_load(&g.secret_file);
    assert_eq!(p1, g.keys.public.to_z85());
    assert_eq!(s1, zmq::z85_encode(g.keys.secret.as_bytes()).unwrap());
    assert_eq!(pyzmq_load(&g.public_file), (p1.clone(), "None".to_string()));
    assert_eq!(security::load_secret(&g.secret_file).unwrap(), g.keys);

    // Never overwrites: both files exist, or only one of them.
    let before = std::fs::read(&g.secret_file).unwrap();
    let e = security::keygen(&base).unwrap_err();
    assert!(matches!(e, SecurityError::Exists(_)), "{e}");
    assert_eq!(std::fs::read(&g.secret_file).unwrap(), before);
    let lone = d.path().join("lone");
    std::fs::write(d.path().join("lone.key"), "x").unwrap();
    assert!(matches!(
        security::keygen(&lone),
        Err(SecurityError::Exists(_))
    ));
    assert!(
        !d.path().join("lone.key_secret").exists(),
        "nothing half-written"
    );
    assert_eq!(std::fs::read(d.path().join("lone.key")).unwrap(), b"x");
}

#[test]
fn bad_key_files_give_clear_errors() {
    let d = tempdir();
    let missing = d.path().join("nope.key_secret");
    let e = security::load_secret(&missing).unwrap_err();
    assert!(
        e.to_string().contains("nope.key_secret: no such file"),
        "{e}"
    );

    let garbage = d.path().join("garbage.key_secret");
    std::fs::write(&garbage, "hello\nworld\n").unwrap();
    chmod(&garbage, 0o600);
    let e = security::load_secret(&garbage).unwrap_err();
    assert!(e.to_string().contains("no public-key"), "{e}");

    let (public, secret) = pyzmq_cert(d.path(), "a");
    chmod(&secret, 0o600);
    let e = security::load_secret(&public).unwrap_err();
    assert!(e.to_string().contains("no secret-key"), "{e}");

    let text = std::fs::read_to_string(&secret).unwrap();
    let short = d.path().join("short.key_secret");
    std::fs::write(&short, text.replace("secret-key = \"", "secret-key = \"x")).unwrap();
    chmod(&short, 0o600);
    let e = security::load_secret(&short).unwrap_err();
    assert!(e.to_string().contains("40 Z85 characters"), "{e}");

    let (other_pub, _) = pyzmq_cert(d.path(), "b");
    let other = security::load_public(&other_pub).unwrap().to_z85();
    let mine = security::load_public(&public).unwrap().to_z85();
    let mixed = d.path().join("mixed.key_secret");
    std::fs::write(&mixed, text.replace(&mine, &other)).unwrap();
    chmod(&mixed, 0o600);
    let e = security::load_secret(&mixed).unwrap_err();
    assert!(e.to_string().contains("does not belong"), "{e}");

    for mode in [0o640, 0o604, 0o660] {
        chmod(&secret, mode);
        let e = security::load_secret(&secret).unwrap_err();
        assert!(matches!(e, SecurityError::TooOpen { .. }), "{mode:o}: {e}");
    }

    let e = security::load_secret(d.path()).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");

    // Client directories: missing, a malformed member, writable by everyone.
    let zpolicy = |dir: &Path| ZapPolicy {
        curve: CurvePolicy::Clients(dir.to_path_buf()),
        allow: vec![],
    };
    let ctx = zmq::Context::new();
    let e = ZapHandler::start(
        &ctx,
        zpolicy(&d.path().join("nodir")),
        Arc::new(|_: &str| {}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("nodir: no such file"), "{e}");
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    std::fs::write(
        clients.join("broken.key"),
        "curve\n    public-key = \"short\"\n",
    )
    .unwrap();
    let e = ZapHandler::start(&ctx, zpolicy(&clients), Arc::new(|_: &str| {})).unwrap_err();
    assert!(e.to_string().contains("broken.key"), "{e}");
    assert!(e.to_string().contains("line 2"), "{e}");
    std::fs::remove_file(clients.join("broken.key")).unwrap();
    chmod(&clients, 0o777);
    let e = ZapHandler::start(&ctx, zpolicy(&clients), Arc::new(|_: &str| {})).unwrap_err();
    assert!(e.to_string().contains("chmod o-w"), "{e}");
}

#[test]
fn curve_server_admits_listed_keys_only_and_counts_the_rest() {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let server = security::keygen(&d.path().join("server")).unwrap();
    // A pyzmq-made client certificate, its public half in the clients directory.
    let (a_pub, a_sec) = pyzmq_cert(d.path(), "alice");
    std::fs::copy(&a_pub, clients.join("alice.key")).unwrap();
    // A key nobody listed.
    let (_, m_sec) = pyzmq_cert(d.path(), "mallory");

    let started = Instant::now();
    let srv = Server::start(
        &format!("tcp://127.0.0.1:{}", free_port()),
        Some(server.keys.clone()),
        Some(ZapPolicy {
            curve: CurvePolicy::Clients(clients.clone()),
            allow: vec![],
        }),
    );
    let alice = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &a_sec)),
    );
    let py_alice = pyzmq_client(&srv.endpoint, &server.public_file, &a_sec, 2.0);
    let mallory = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &m_sec)),
    );
    let null = Client::connect(&srv.endpoint, None);
    // A client with a listed key but the wrong server key.
    let wrong_server = Client::connect(
        &srv.endpoint,
        Some(&ClientKeys {
            server: KeyPair::generate().unwrap().public,
            ..client_keys(&server.public_file, &a_sec)
        }),
    );

    assert!(
        wait_until(Duration::from_secs(10), || alice.count() > 20),
        "alice receives"
    );
    // Each refused peer has been turned away (libzmq does not retry after a refusal).
    assert!(
        wait_until(Duration::from_secs(10), || srv.failures() >= 3),
        "refusals counted: {}",
        srv.failures()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(mallory.count(), 0, "unknown key receives nothing");
    assert_eq!(null.count(), 0, "NULL client receives nothing");
    assert_eq!(wrong_server.count(), 0, "wrong server key receives nothing");
    assert!(
        proc_output_count(py_alice) > 20,
        "pyzmq client with its own cert receives"
    );

    let log = srv.log();
    assert!(log.starts_with("auth: refused"), "{log}");
    // One line a second at most, whatever the number of refusals.
    let lines = srv.lines.lock().unwrap().len() as u64;
    let secs = started.elapsed().as_secs() + 1;
    assert!(
        lines <= secs,
        "rate-limited: {lines} lines in {secs} s for {} refusals",
        srv.failures()
    );
    let zap = srv.zap.as_ref().unwrap();
    assert!(zap.admitted() >= 2);
}

#[test]
fn reload_applies_to_new_handshakes_and_keeps_connected_peers() {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let server = security::keygen(&d.path().join("server")).unwrap();
    let (a_pub, a_sec) = pyzmq_cert(d.path(), "alice");
    let (b_pub, b_sec) = pyzmq_cert(d.path(), "bob");
    std::fs::copy(&a_pub, clients.join("alice.key")).unwrap();
    let srv = Server::start(
        &format!("tcp://127.0.0.1:{}", free_port()),
        Some(server.keys.clone()),
        Some(ZapPolicy {
            curve: CurvePolicy::Clients(clients.clone()),
            allow: vec![],
        }),
    );
    let zap = srv.zap.as_ref().unwrap();
    assert_eq!(zap.client_keys(), 1);
    let alice = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &a_sec)),
    );
    let bob = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &b_sec)),
    );
    assert!(wait_until(Duration::from_secs(10), || alice.count() > 0));
    assert!(wait_until(Duration::from_secs(10), || srv.failures() >= 1));
    assert_eq!(bob.count(), 0);

    // Rotation: alice out, bob in. A refused peer is not retried by libzmq: bob's
    // consumer reconnects (as a restarted consumer would) and is admitted now.
    std::fs::remove_file(clients.join("alice.key")).unwrap();
    std::fs::copy(&b_pub, clients.join("bob.key")).unwrap();
    assert_eq!(zap.reload().unwrap(), 1);
    drop(bob);
    let bob = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &b_sec)),
    );
    assert!(
        wait_until(Duration::from_secs(10), || bob.count() > 0),
        "bob admitted"
    );
    // The connected alice keeps receiving.
    let a_before = alice.count();
    assert!(
        wait_until(Duration::from_secs(5), || alice.count() > a_before + 10),
        "connected alice unaffected"
    );
    // A new handshake with alice's key is refused now (and logged: the last refusal
    // line, bob's, is over a second old by then).
    std::thread::sleep(Duration::from_millis(1100));
    let f_before = srv.failures();
    let alice2 = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &a_sec)),
    );
    assert!(wait_until(Duration::from_secs(10), || srv.failures() > f_before));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(alice2.count(), 0, "removed key refused on a new connection");
    let alice_key = security::load_public(&a_pub).unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || srv
            .log()
            .contains(&format!("client key {alice_key} has no certificate"))),
        "{}",
        srv.log()
    );

    // A broken reload keeps the keys in force.
    std::fs::write(clients.join("bad.key"), "garbage").unwrap();
    let e = zap.reload().unwrap_err();
    assert!(e.to_string().contains("bad.key"), "{e}");
    assert_eq!(zap.client_keys(), 1);
}

#[test]
fn address_allow_list_with_and_without_curve() {
    // NULL mechanism, allow-list that excludes loopback: refused and counted.
    let outside = Server::start(
        &format!("tcp://127.0.0.1:{}", free_port()),
        None,
        Some(ZapPolicy {
            curve: CurvePolicy::Off,
            allow: vec![security::parse_cidr("10.0.0.0/8").unwrap()],
        }),
    );
    let c = Client::connect(&outside.endpoint, None);
    assert!(wait_until(Duration::from_secs(10), || outside.failures() >= 1));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.count(), 0, "peer outside --allow receives nothing");
    assert!(
        outside.log().contains("address not in --allow"),
        "{}",
        outside.log()
    );

    // NULL mechanism, loopback allowed.
    let inside = Server::start(
        &format!("tcp://127.0.0.1:{}", free_port()),
        None,
        Some(ZapPolicy {
            curve: CurvePolicy::Off,
            allow: vec![
                security::parse_cidr("10.0.0.0/8").unwrap(),
                security::parse_cidr("127.0.0.1").unwrap(),
            ],
        }),
    );
    let c = Client::connect(&inside.endpoint, None);
    assert!(wait_until(Duration::from_secs(10), || c.count() > 0));
    assert_eq!(inside.failures(), 0);

    // CURVE with any key, but only from 192.0.2.0/24: a valid CURVE client on
    // loopback is refused.
    let d = tempdir();
    let server = security::keygen(&d.path().join("server")).unwrap();
    let client = security::keygen(&d.path().join("client")).unwrap();
    let curve = Server::start(
        &format!("tcp://127.0.0.1:{}", free_port()),
        Some(server.keys.clone()),
        Some(ZapPolicy {
            curve: CurvePolicy::AllowAny,
            allow: vec![security::parse_cidr("192.0.2.0/24").unwrap()],
        }),
    );
    let c = Client::connect(
        &curve.endpoint,
        Some(&client_keys(&server.public_file, &client.secret_file)),
    );
    assert!(wait_until(Duration::from_secs(10), || curve.failures() >= 1));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.count(), 0);

    // IPv6 loopback, when the machine has it.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let v6 = Server::start(
            &format!("tcp://[::1]:{}", free_port()),
            Some(server.keys.clone()),
            Some(ZapPolicy {
                curve: CurvePolicy::AllowAny,
                allow: vec![security::parse_cidr("::1/128").unwrap()],
            }),
        );
        let c = Client::connect(
            &v6.endpoint,
            Some(&client_keys(&server.public_file, &client.secret_file)),
        );
        assert!(
            wait_until(Duration::from_secs(10), || c.count() > 0),
            "::1 allowed"
        );
    }
}

#[test]
fn without_a_zap_handler_a_guarded_socket_fails_closed() {
    let d = tempdir();
    let server = security::keygen(&d.path().join("server")).unwrap();
    let client = security::keygen(&d.path().join("client")).unwrap();
    // No ZAP handler in the context: apply_server enforces the domain.
    let srv = Server::start(
        &format!("tcp://127.0.0.1:{}", free_port()),
        Some(server.keys.clone()),
        None,
    );
    let c = Client::connect(
        &srv.endpoint,
        Some(&client_keys(&server.public_file, &client.secret_file)),
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(c.count(), 0, "no handler: nobody admitted");

    // And one handler per context.
    let ctx = zmq::Context::new();
    let _z = ZapHandler::start(&ctx, ZapPolicy::default(), Arc::new(|_: &str| {})).unwrap();
    let e = ZapHandler::start(&ctx, ZapPolicy::default(), Arc::new(|_: &str| {})).unwrap_err();
    assert!(e.to_string().contains("another ZAP handler"), "{e}");
}

#[test]
fn squatted_ipc_paths_are_refused() {
    let d = tempdir();
    let me = security::effective_uid();
    let path = d.path().join("listen");
    security::check_ipc_path(&path, me).unwrap();
    // Our own stale socket: fine.
    let ctx = zmq::Context::new();
    {
        let s = ctx.socket(zmq::PULL).unwrap();
        s.bind(&ipc(d.path(), "listen")).unwrap();
        security::check_ipc_path(&path, me).unwrap();
    }
    if me == 0 {
        // A socket (and a plain file) at the path owned by another user: refused.
        let nobody = 65534;
        std::os::unix::fs::lchown(&path, Some(nobody), None).unwrap();
        let e = security::check_ipc_path(&path, me).unwrap_err();
        assert!(e.to_string().contains("belongs to uid 65534"), "{e}");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "x").unwrap();
        std::os::unix::fs::lchown(&path, Some(nobody), None).unwrap();
        assert!(security::check_ipc_path(&path, me).is_err());
        // A directory owned by another (non-root) user who can write it.
        let theirs = d.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::lchown(&theirs, Some(nobody), None).unwrap();
        let e = security::check_ipc_path(&theirs.join("s"), me).unwrap_err();
        assert!(e.to_string().contains("uid 65534"), "{e}");
    }
    let open = d.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let e = security::check_ipc_path(&open.join("s"), me).unwrap_err();
    assert!(e.to_string().contains("every user"), "{e}");
    chmod(&open, 0o1777);
    security::check_ipc_path(&open.join("s"), me).unwrap();
}

#[test]
fn c_config_rejects_bad_or_partial_keys() {
    use std::ffi::CString;
    use zmq_adaptor::ffi::logger::{
        zmq_adaptor_config, zmq_adaptor_config_init, zmq_adaptor_configure,
    };
    use zmq_adaptor::zmq_adaptor_result as R;
    let (s, c) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let z = |b: &[u8; 32]| CString::new(zmq::z85_encode(b).unwrap()).unwrap();
    let (server, public, secret) = (
        z(s.public.as_bytes()),
        z(c.public.as_bytes()),
        z(c.secret.as_bytes()),
    );
    let other_public = z(s.public.as_bytes());
    let short = CString::new("short").unwrap();
    let mut cfg = std::mem::MaybeUninit::<zmq_adaptor_config>::uninit();
    assert_eq!(zmq_adaptor_config_init(cfg.as_mut_ptr()), 0);
    // SAFETY: initialised by zmq_adaptor_config_init just above.
    let base = unsafe { cfg.assume_init() };
    assert!(base.curve_server_key.is_null() && base.curve_secret_key.is_null());
    let with = |sv: &CString, p: &CString, sc: Option<&CString>| zmq_adaptor_config {
        endpoint: c"tcp://127.0.0.1:5999".as_ptr(),
        curve_server_key: sv.as_ptr(),
        curve_public_key: p.as_ptr(),
        curve_secret_key: sc.map_or(std::ptr::null(), |x| x.as_ptr()),
        ..base
    };
    let bad = R::ZMQ_ADAPTOR_ERR_BAD_KEY as i32;
    assert_eq!(
        zmq_adaptor_configure(&with(&server, &public, None)),
        bad,
        "partial"
    );
    assert_eq!(
        zmq_adaptor_configure(&with(&short, &public, Some(&secret))),
        bad,
        "short"
    );
    assert_eq!(
        zmq_adaptor_configure(&with(&server, &other_public, Some(&secret))),
        bad,
        "mismatch"
    );
    assert_eq!(
        zmq_adaptor_configure(&with(&server, &public, Some(&secret))),
        0
    );
    assert!(R::ZMQ_ADAPTOR_ERR_BAD_KEY.message().contains("40 Z85"));
}

// ---------------------------------------------------------------------------------
// The zmq-adaptor binary with --curve-secret, --curve-clients, --allow, SIGHUP, keygen
// ---------------------------------------------------------------------------------

const ADAPTOR: &str = env!("CARGO_BIN_EXE_zmq-adaptor");
const LOGGEN: &str = env!("CARGO_BIN_EXE_zmq-loggen");

/// A running adaptor whose output lines are collected.
struct Adaptor {
    proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
}

fn collect_lines(p: impl std::io::Read + Send + 'static, sink: Arc<Mutex<Vec<String>>>) {
    use std::io::BufRead;
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(p).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
}

fn adaptor(args: &[&str]) -> Adaptor {
    let mut child = Command::new(ADAPTOR)
        .args(args)
        .args(["--stats-interval", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    collect_lines(child.stdout.take().unwrap(), lines.clone());
    collect_lines(child.stderr.take().unwrap(), lines.clone());
    let a = Adaptor {
        proc: Proc(child),
        lines,
    };
    assert!(
        a.wait_for("forwarding", Duration::from_secs(10)),
        "adaptor did not start: {}",
        a.output()
    );
    a
}

impl Adaptor {
    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.output().contains(needle))
    }
}

/// One value from the adaptor's /metrics.
fn metric(port: u16, name: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut body = String::new();
    let _ = c.read_to_string(&mut body);
    common::adaptor::series(&body, name).map_or(0, |v| v as u64)
}

/// Runs zmq-loggen; returns (exit code, stdout + stderr).
fn loggen(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(LOGGEN).args(args).output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A pyzmq CURVE consumer: prints `first` at its first message, then the number of
/// `x-` records once it has `want` of them (or after `secs`).
struct PyConsumer {
    proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PyConsumer {
    fn start(endpoint: &str, server_public: &Path, client_secret: &Path, want: usize) -> Self {
        let script = "import sys, time, zmq, zmq.auth\n\
            ep, server, client, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])\n\
            ctx = zmq.Context(); s = ctx.socket(zmq.SUB); s.linger = 0\n\
            pub, sec = zmq.auth.load_certificate(client)\n\
            s.curve_publickey = pub; s.curve_secretkey = sec\n\
            s.curve_serverkey = zmq.auth.load_certificate(server)[0]\n\
            s.setsockopt(zmq.SUBSCRIBE, b''); s.connect(ep)\n\
            n = 0; first = False; end = time.time() + 60\n\
            while n < want and time.time() < end:\n\
            \x20   if s.poll(50):\n\
            \x20       m = s.recv()\n\
            \x20       if not first: print('first', flush=True); first = True\n\
            \x20       if m.startswith(b'x-'): n += 1\n\
            print('count', n, flush=True)\n";
        let mut child = Command::new(PYTHON)
            .args(["-c", script, endpoint])
            .arg(server_public)
            .arg(client_secret)
            .arg(want.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().unwrap(), lines.clone());
        PyConsumer {
            proc: Proc(child),
            lines,
        }
    }
    fn has(&self, what: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with(what))
    }
    fn count(&mut self) -> usize {
        assert_eq!(self.proc.wait(Duration::from_secs(70)), Some(0));
        let l = self.lines.lock().unwrap();
        let c = l
            .iter()
            .find(|l| l.starts_with("count "))
            .expect("count line");
        c[6..].parse().unwrap()
    }
}

#[test]
fn adaptor_over_tcp_curve_end_to_end() {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let server = security::keygen(&d.path().join("adaptor")).unwrap();
    let worker = security::keygen(&d.path().join("worker")).unwrap();
    let stranger = security::keygen(&d.path().join("stranger")).unwrap();
    let (a_pub, a_sec) = pyzmq_cert(d.path(), "alice");
    let (_, m_sec) = pyzmq_cert(d.path(), "mallory");
    chmod(&a_sec, 0o600);
    std::fs::copy(&worker.public_file, clients.join("worker.key")).unwrap();
    std::fs::copy(&a_pub, clients.join("alice.key")).unwrap();
    let (listen, publish, mport) = (
        format!("tcp://127.0.0.1:{}", free_port()),
        format!("tcp://127.0.0.1:{}", free_port()),
        free_port(),
    );
    let mut a = adaptor(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--curve-secret",
        server.secret_file.to_str().unwrap(),
        "--curve-clients",
        clients.to_str().unwrap(),
        "--metrics",
        &format!("127.0.0.1:{mport}"),
    ]);
    assert!(a
        .output()
        .contains(&format!("public key {}", server.keys.public)));
    let secret_text = zmq::z85_encode(server.keys.secret.as_bytes()).unwrap();

    const N: usize = 20_000;
    let alice = Client::connect(&publish, Some(&client_keys(&server.public_file, &a_sec)));
    let mut py = PyConsumer::start(&publish, &server.public_file, &a_sec, N);
    let (sp, ws) = (
        server.public_file.to_str().unwrap(),
        worker.secret_file.to_str().unwrap(),
    );
    // Probes through the worker's encrypted hop until both consumers get them.
    let start = Instant::now();
    while !(alice.count() > 0 && py.has("first")) {
        assert!(start.elapsed() < Duration::from_secs(20), "{}", a.output());
        let (rc, out) = loggen(&[
            "-e",
            &listen,
            "-n",
            "1",
            "--prefix",
            "probe",
            "--curve-server",
            sp,
            "--curve-secret",
            ws,
            "--flush-ms",
            "2000",
        ]);
        assert_eq!(rc, Some(0), "{out}");
    }
    let (rc, out) = loggen(&[
        "-e",
        &listen,
        "-n",
        &N.to_string(),
        "--size",
        "200",
        "--prefix",
        "x",
        "--curve-server",
        sp,
        "--curve-secret",
        ws,
        "--flush-ms",
        "20000",
    ]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(out.contains(&format!("sent={N}")), "{out}");
    assert!(
        wait_until(Duration::from_secs(20), || alice.x.load(Ordering::Relaxed)
            >= N),
        "rust consumer got {}",
        alice.x.load(Ordering::Relaxed)
    );
    assert_eq!(
        py.count(),
        N,
        "pyzmq consumer with a pyzmq certificate gets every record"
    );
    assert_eq!(alice.x.load(Ordering::Relaxed), N);
    assert_eq!(metric(mport, "zmq_adaptor_auth_failures_total"), 0);

    // Unknown key, NULL consumer: refused, counted, nothing received.
    let mallory = Client::connect(&publish, Some(&client_keys(&server.public_file, &m_sec)));
    let null = Client::connect(&publish, None);
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            mport,
            "zmq_adaptor_auth_failures_total"
        ) >= 2),
        "{}",
        a.output()
    );
    // A worker with an unknown key delivers nothing.
    let f = metric(mport, "zmq_adaptor_auth_failures_total");
    let (rc, _) = loggen(&[
        "-e",
        &listen,
        "-n",
        "50",
        "--prefix",
        "x",
        "--curve-server",
        sp,
        "--curve-secret",
        stranger.secret_file.to_str().unwrap(),
        "--flush-ms",
        "500",
        "--linger-ms",
        "100",
    ]);
    assert_eq!(rc, Some(0));
    assert!(wait_until(Duration::from_secs(5), || metric(
        mport,
        "zmq_adaptor_auth_failures_total"
    ) > f));
    // More records from the allowed worker reach alice only.
    let before = alice.count();
    let (rc, _) = loggen(&[
        "-e",
        &listen,
        "-n",
        "100",
        "--prefix",
        "y",
        "--curve-server",
        sp,
        "--curve-secret",
        ws,
        "--flush-ms",
        "5000",
    ]);
    assert_eq!(rc, Some(0));
    assert!(wait_until(Duration::from_secs(10), || alice.count() >= before + 100));
    assert_eq!(mallory.count(), 0, "unknown key receives nothing");
    assert_eq!(null.count(), 0, "NULL consumer receives nothing");
    assert_eq!(
        alice.x.load(Ordering::Relaxed),
        N,
        "nothing from the unknown worker"
    );
    assert!(a.output().contains("auth: refused"), "{}", a.output());
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    assert!(
        !a.output().contains(&secret_text),
        "the secret key is never printed"
    );
}

#[test]
fn adaptor_sighup_rotates_client_keys() {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let server = security::keygen(&d.path().join("adaptor")).unwrap();
    let (a_pub, a_sec) = pyzmq_cert(d.path(), "alice");
    let (b_pub, b_sec) = pyzmq_cert(d.path(), "bob");
    std::fs::copy(&a_pub, clients.join("alice.key")).unwrap();
    let listen = ipc(d.path(), "listen");
    let publish = format!("tcp://127.0.0.1:{}", free_port());
    let mut a = adaptor(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--curve-secret",
        server.secret_file.to_str().unwrap(),
        "--curve-clients",
        clients.to_str().unwrap(),
    ]);
    // Records keep flowing from a plain publisher on the ipc side (workers' hop).
    let ctx = zmq::Context::new();
    let p = ctx.socket(zmq::PUB).unwrap();
    p.set_linger(0).unwrap();
    p.connect(&listen).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let pump = std::thread::spawn(move || {
        while !st.load(Ordering::Acquire) {
            let _ = p.send(&b"tick"[..], 0);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let keys = |s: &Path| client_keys(&server.public_file, s);
    let alice = Client::connect(&publish, Some(&keys(&a_sec)));
    let bob = Client::connect(&publish, Some(&keys(&b_sec)));
    assert!(
        wait_until(Duration::from_secs(10), || alice.count() > 0),
        "{}",
        a.output()
    );
    assert!(
        a.wait_for("auth: refused", Duration::from_secs(10)),
        "{}",
        a.output()
    );
    assert_eq!(bob.count(), 0);

    std::fs::remove_file(clients.join("alice.key")).unwrap();
    std::fs::copy(&b_pub, clients.join("bob.key")).unwrap();
    // SAFETY: kill with a pid we own and a valid signal.
    unsafe { libc::kill(a.proc.0.id() as i32, libc::SIGHUP) };
    assert!(
        a.wait_for("re-read 1 CURVE client keys from", Duration::from_secs(5)),
        "{}",
        a.output()
    );
    drop(bob);
    let bob = Client::connect(&publish, Some(&keys(&b_sec)));
    assert!(
        wait_until(Duration::from_secs(10), || bob.count() > 0),
        "bob admitted after SIGHUP"
    );
    let a_before = alice.count();
    assert!(
        wait_until(Duration::from_secs(5), || alice.count() > a_before + 10),
        "connected alice keeps receiving"
    );
    let alice2 = Client::connect(&publish, Some(&keys(&a_sec)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(alice2.count(), 0, "alice refused on reconnect");

    // A broken directory on SIGHUP keeps the previous keys.
    std::fs::write(clients.join("bad.key"), "nonsense").unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(a.proc.0.id() as i32, libc::SIGHUP) };
    assert!(a.wait_for("keeping the previous keys", Duration::from_secs(5)));
    let bob2 = Client::connect(&publish, Some(&keys(&b_sec)));
    assert!(wait_until(Duration::from_secs(10), || bob2.count() > 0));
    stop.store(true, Ordering::Release);
    pump.join().unwrap();
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn adaptor_allow_list_without_curve() {
    let d = tempdir();
    let listen = ipc(d.path(), "listen");
    let (publish, mport) = (format!("tcp://127.0.0.1:{}", free_port()), free_port());
    let mut a = adaptor(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--allow",
        "10.0.0.0/8",
        "--allow",
        "2001:db8::/32",
        "--metrics",
        &format!("127.0.0.1:{mport}"),
    ]);
    let c = Client::connect(&publish, None);
    assert!(wait_until(Duration::from_secs(10), || metric(
        mport,
        "zmq_adaptor_auth_failures_total"
    ) >= 1));
    assert!(
        a.output().contains("address not in --allow"),
        "{}",
        a.output()
    );
    assert_eq!(c.count(), 0);
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));

    let publish = format!("tcp://127.0.0.1:{}", free_port());
    let listen = ipc(d.path(), "listen2");
    let mut a = adaptor(&["-b", &listen, "-p", &publish, "--allow", "127.0.0.0/8"]);
    let c = Client::connect(&publish, None);
    let ctx = zmq::Context::new();
    let p = ctx.socket(zmq::PUB).unwrap();
    p.set_linger(0).unwrap();
    p.connect(&listen).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        let _ = p.send(&b"tick"[..], 0);
        c.count() > 0
    }));
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn adaptor_start_errors_keygen_and_ipc_defaults() {
    let d = tempdir();
    let run = |args: &[&str]| {
        let out = Command::new(ADAPTOR)
            .args(args)
            .args([
                "-b",
                &ipc(d.path(), "l"),
                "-p",
                "tcp://127.0.0.1:0",
                "--stats-interval",
                "0",
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // keygen: writes a pair, never overwrites.
    let base = d.path().join("keys/server");
    let out = Command::new(ADAPTOR)
        .arg("keygen")
        .arg(&base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = d.path().join("keys/server.key_secret");
    let before = std::fs::read(&secret).unwrap();
    let out = Command::new(ADAPTOR)
        .arg("keygen")
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    let s = secret.to_str().unwrap();

    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let c = clients.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--curve-secret".into(), s.into()],
            "--curve-secret needs --curve-clients",
        ),
        (
            vec![
                "--curve-secret".into(),
                d.path().join("nope.key_secret").to_str().unwrap().into(),
                "--curve-allow-any".into(),
            ],
            "nope.key_secret: no such file",
        ),
        (
            vec![
                "--curve-secret".into(),
                d.path().join("keys/server.key").to_str().unwrap().into(),
                "--curve-allow-any".into(),
            ],
            "no secret-key",
        ),
        (
            vec![
                "--curve-secret".into(),
                s.into(),
                "--curve-clients".into(),
                d.path().join("none").to_str().unwrap().into(),
            ],
            "none: no such file",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(|x| x.as_str()).collect();
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let garbage = d.path().join("garbage.key_secret");
    std::fs::write(&garbage, "curve\n    secret-key = \"x\"\n").unwrap();
    chmod(&garbage, 0o600);
    let (code, err) = run(&[
        "--curve-secret",
        garbage.to_str().unwrap(),
        "--curve-clients",
        c,
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a ZeroMQ CURVE certificate"), "{err}");
    // pyzmq writes secret files 0644: refused until chmod 600.
    let (_, py_sec) = pyzmq_cert(d.path(), "py");
    let (code, err) = run(&[
        "--curve-secret",
        py_sec.to_str().unwrap(),
        "--curve-clients",
        c,
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("chmod 600"), "{err}");
    let (code, err) = run(&["--curve-clients", c]);
    assert_eq!(code, Some(2), "{err}");

    // Debug output shows the public key, never the secret one.
    let mut a = adaptor(&[
        "-d",
        "-b",
        &ipc(d.path(), "dbg"),
        "-p",
        "tcp://127.0.0.1:0",
        "--curve-secret",
        s,
        "--curve-clients",
        c,
    ]);
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    let kp = security::load_secret(&secret).unwrap();
    let secret_text = zmq::z85_encode(kp.secret.as_bytes()).unwrap();
    assert!(a.output().contains(&kp.public.to_z85()), "{}", a.output());
    assert!(!a.output().contains(&secret_text), "{}", a.output());

    // IPC: 0660 by default; a squatted path or a shared directory is refused.
    let listen = ipc(d.path(), "sock");
    let mut a = adaptor(&["-b", &listen, "-p", "tcp://127.0.0.1:0"]);
    let mode = std::fs::metadata(d.path().join("sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "default ipc mode");
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    if security::effective_uid() == 0 {
        let squat = d.path().join("squat");
        std::fs::write(&squat, "").unwrap();
        std::os::unix::fs::lchown(&squat, Some(65534), None).unwrap();
        let out = Command::new(ADAPTOR)
            .args(["-b", &ipc(d.path(), "squat"), "-p", "tcp://127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("squatting"));
    }
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let out = Command::new(ADAPTOR)
        .args(["-b", &ipc(&shared, "l"), "-p", "tcp://127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("can be written by every user"));
}

#[test]
fn reverse_channel_admits_only_listed_curve_publishers() {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let server = security::keygen(&d.path().join("adaptor")).unwrap();
    let tracker = security::keygen(&d.path().join("tracker")).unwrap();
    let intruder = security::keygen(&d.path().join("intruder")).unwrap();
    std::fs::copy(&tracker.public_file, clients.join("tracker.key")).unwrap();
    // The tracking service binds its PUB and is the CURVE client; the adaptor's SUB
    // connects and is the CURVE server.
    let run = |keys: Option<&Path>, push: &str| -> (usize, Adaptor) {
        let ctx = zmq::Context::new();
        let publ = ctx.socket(zmq::PUB).unwrap();
        publ.set_linger(0).unwrap();
        if let Some(k) = keys {
            apply_client(&publ, &client_keys(&server.public_file, k)).unwrap();
        }
        publ.bind("tcp://127.0.0.1:*").unwrap();
        let ep = publ.get_last_endpoint().unwrap().unwrap();
        let a = adaptor(&[
            "-b",
            &ipc(d.path(), &format!("{push}-listen")),
            "-p",
            "tcp://127.0.0.1:0",
            "-l",
            &ep,
            "-u",
            &ipc(d.path(), push),
            "--curve-secret",
            server.secret_file.to_str().unwrap(),
            "--curve-clients",
            clients.to_str().unwrap(),
        ]);
        let pull = ctx.socket(zmq::PULL).unwrap();
        pull.set_linger(0).unwrap();
        pull.connect(&ipc(d.path(), push)).unwrap();
        let mut got = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) && got == 0 {
            publ.send(&b"command"[..], 0).unwrap();
            if pull.poll(zmq::POLLIN, 50).unwrap() > 0 {
                while pull.recv_bytes(zmq::DONTWAIT).is_ok() {
                    got += 1;
                }
            }
        }
        (got, a)
    };
    let (got, mut a) = run(Some(&tracker.secret_file), "push1");
    assert!(got > 0, "listed tracker's commands arrive: {}", a.output());
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    let (got, mut a) = run(Some(&intruder.secret_file), "push2");
    assert_eq!(got, 0, "unlisted key: no command");
    assert!(
        a.wait_for("auth: refused", Duration::from_secs(5)),
        "{}",
        a.output()
    );
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
    let (got, mut a) = run(None, "push3");
    assert_eq!(got, 0, "NULL publisher: no command");
    assert!(
        a.wait_for("auth: refused", Duration::from_secs(5)),
        "{}",
        a.output()
    );
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

/// Keys of a CURVE pipeline made by keygen: the adaptor's, a worker's, a consumer's.
struct CurveKeys {
    server: security::cert::Generated,
    worker: security::cert::Generated,
}

/// A tcp + CURVE adaptor admitting a worker and a consumer (keys by keygen), the
/// consumer subscribed, and the C program `curve_worker` run as `worker(dir, keys,
/// listen)` makes it: it must exit 0 and the consumer must get exactly `n` records.
fn c_curve_worker_delivers(n: usize, worker: impl Fn(&Path, &CurveKeys, &str) -> Command) {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let keys = CurveKeys {
        server: security::keygen(&d.path().join("adaptor")).unwrap(),
        worker: security::keygen(&d.path().join("worker")).unwrap(),
    };
    let consumer = security::keygen(&d.path().join("consumer")).unwrap();
    for g in [&keys.worker, &consumer] {
        let name = g.public_file.file_name().unwrap();
        std::fs::copy(&g.public_file, clients.join(name)).unwrap();
    }
    let (listen, publish) = (
        format!("tcp://127.0.0.1:{}", free_port()),
        format!("tcp://127.0.0.1:{}", free_port()),
    );
    let mut a = adaptor(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--curve-secret",
        keys.server.secret_file.to_str().unwrap(),
        "--curve-clients",
        clients.to_str().unwrap(),
    ]);
    let sub = Client::connect(
        &publish,
        Some(&client_keys(
            &keys.server.public_file,
            &consumer.secret_file,
        )),
    );
    // The adaptor holds records until the consumer's subscription is there.
    let out = worker(d.path(), &keys, &listen).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(10), || sub.count() >= n),
        "consumer got {}",
        sub.count()
    );
    assert_eq!(sub.count(), n);
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_c_worker_logs_over_tcp_curve_through_the_adaptor() {
    c_curve_worker_delivers(5000, |dir, k, listen| {
        let mut c = Command::new(compile_c("curve_worker", dir));
        c.args([listen, "5000"])
            .arg(k.server.keys.public.to_z85())
            .arg(k.worker.keys.public.to_z85())
            .arg(zmq::z85_encode(k.worker.keys.secret.as_bytes()).unwrap());
        c
    });
}

#[test]
fn a_c_worker_reads_its_keys_from_certificate_files() {
    c_curve_worker_delivers(2000, |dir, k, listen| {
        // The same secret certificate, readable by others: refused (checked in C).
        let open = dir.join("open.key_secret");
        std::fs::copy(&k.worker.secret_file, &open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = Command::new(compile_c("curve_worker", dir));
        c.args([listen, "2000", "--files"]).args([
            &k.server.public_file,
            &k.worker.secret_file,
            &open,
        ]);
        c
    });
}

#[test]
fn every_tcp_socket_the_adaptor_binds_is_a_curve_server() {
    let d = tempdir();
    let clients = d.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    let server = security::keygen(&d.path().join("adaptor")).unwrap();
    let mport = free_port();
    let tcp = || format!("tcp://127.0.0.1:{}", free_port());
    let (listen, publish, packed, push) = (tcp(), tcp(), tcp(), tcp());
    let mut a = adaptor(&[
        "-b",
        &listen,
        "-p",
        &publish,
        "--publish-packed",
        &packed,
        "-u",
        &push,
        "--curve-secret",
        server.secret_file.to_str().unwrap(),
        "--curve-clients",
        clients.to_str().unwrap(),
        "--metrics",
        &format!("127.0.0.1:{mport}"),
    ]);
    // A plain (NULL) peer on each: refused, counted.
    let ctx = zmq::Context::new();
    let mut peers = Vec::new();
    for (ep, kind) in [
        (&listen, zmq::PUB),
        (&publish, zmq::SUB),
        (&packed, zmq::SUB),
        (&push, zmq::PULL),
    ] {
        let s = ctx.socket(kind).unwrap();
        s.set_linger(0).unwrap();
        s.connect(ep).unwrap();
        peers.push(s);
    }
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            mport,
            "zmq_adaptor_auth_failures_total"
        ) >= 4),
        "{} refusals: {}",
        metric(mport, "zmq_adaptor_auth_failures_total"),
        a.output()
    );
    assert_eq!(a.proc.term(Duration::from_secs(10)), Some(0));
}

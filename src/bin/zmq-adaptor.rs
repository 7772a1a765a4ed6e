//! `zmq-adaptor`: runs the usage-logging adaptor on a gateway node. Flags of the
//! original `api-gateway-zmq-adaptor` keep their meaning. Subcommands are tools for
//! the consumer side (`tail`, `pub`); without one it runs the adaptor.

#[cfg(feature = "jetstream")]
#[path = "../jetstream.rs"]
#[allow(dead_code)]
mod jetstream;

use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use zmq_adaptor::adaptor::{self, Control, Options, ReverseOptions};
use zmq_adaptor::proxy::{self, ProxyConfig};
use zmq_adaptor::security::{self, CurvePolicy, Guard, ProxySecurity, ZapPolicy};
use zmq_adaptor::{flagfile, tools};

/// Forwards usage records from nginx workers (XSUB) to subscribers (XPUB).
#[derive(Parser, Debug)]
#[command(
    name = "zmq-adaptor",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
struct Cli {
    /// A tool instead of the adaptor.
    #[command(subcommand)]
    command: Option<Command>,
    /// Read flags from a TOML file: keys are the long flags' names (publish = "tcp://…",
    /// stats-interval = 10, debug = true); flags on the command line override it.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Endpoint where nginx workers' publishers connect (XSUB, bound).
    #[arg(short = 'b', long = "bind", value_name = "ENDPOINT", default_value = proxy::DEFAULT_LISTEN, value_parser = parse_bind_endpoint)]
    listen: String,
    /// Endpoint where consumers subscribe (XPUB, bound). Use tcp://0.0.0.0:6001 to expose it on every interface;
    /// `none`: no ZeroMQ publish side (records go to JetStream only; needs --jetstream).
    #[arg(short = 'p', long = "publish", value_name = "ENDPOINT", default_value = proxy::DEFAULT_PUBLISH, value_parser = parse_publish_endpoint)]
    publish: String,
    /// Reverse channel: endpoint a SUB connects to (bound with -r); enables the channel.
    #[arg(short = 'l', long = "reverse-listen", value_name = "ENDPOINT", value_parser = parse_endpoint)]
    reverse_listen: Option<String>,
    /// Reverse channel: endpoint the PUSH binds (default ipc:///tmp/nginx_queue_push); enables the channel.
    #[arg(short = 'u', long = "reverse-push", value_name = "ENDPOINT", value_parser = parse_bind_endpoint)]
    reverse_push: Option<String>,
    /// Print every message (timestamp, size, text or escaped bytes) and socket event.
    #[arg(short = 'd', long)]
    debug: bool,
    /// Test mode: built-in publisher and subscriber; prints messages processed and latency.
    #[arg(short = 't', long)]
    test: bool,
    /// Reverse-channel test: SUB binds on -l, a built-in publisher sends, a PULL prints.
    #[arg(short = 'r', long = "reverse-test")]
    reverse_test: bool,
    /// Mode of IPC socket files the adaptor binds, in octal permission bits 0..0777
    /// (default 0660: owner and --ipc-group; 0666 lets every local user inject
    /// records); setuid, setgid and sticky bits are refused.
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    ipc_mode: Option<u32>,
    /// Group of IPC socket files the adaptor binds (name or number).
    #[arg(long, value_name = "GROUP")]
    ipc_group: Option<String>,
    /// User the nginx workers run as; checked for access to IPC sockets at start
    /// (default when run as root: nobody).
    #[arg(long, value_name = "USER")]
    worker_user: Option<String>,
    /// Print a stats line every SECONDS (0 = never, at most 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = parse_seconds)]
    stats_interval: f64,
    /// Interval between built-in test messages, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    test_interval_ms: u64,
    /// Receive high-water mark of the listen side, in messages.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(i32).range(0..))]
    listen_hwm: i32,
    /// Send high-water mark per consumer on the publish side, in messages (small: the
    /// backlog holds the rest, counted; what sits in a consumer's queue when the
    /// adaptor exits has only the socket linger to leave).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(i32).range(0..))]
    publish_hwm: i32,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (off by default).
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// On SIGTERM/SIGINT, forward the backlog to consumers for at most SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = parse_seconds)]
    drain_timeout: f64,
    /// Records held at most between workers and consumers.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    backlog_records: usize,
    /// Bytes held at most between workers and consumers.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    backlog_bytes: usize,
    /// Also publish the batches as they are (packed stream, for high-throughput consumers).
    #[arg(long, value_name = "ENDPOINT")]
    publish_packed: Option<String>,
    /// Compression of the packed stream.
    #[arg(long, value_name = "none|zstd|lz4", default_value = "none", value_parser = parse_compression)]
    packed_compression: zmq_adaptor::packed::Compression,
    /// Largest message a publisher may send; workers pack batches below it.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_message_bytes: usize,
    /// This adaptor's secret certificate (NAME.key_secret, mode 0600): every tcp
    /// socket it binds becomes a CURVE server.
    #[arg(long, value_name = "FILE")]
    curve_secret: Option<PathBuf>,
    /// Admit only CURVE clients whose public key has a NAME.key certificate in DIR
    /// (re-read on SIGHUP).
    #[arg(
        long,
        value_name = "DIR",
        requires = "curve_secret",
        conflicts_with = "curve_allow_any"
    )]
    curve_clients: Option<PathBuf>,
    /// Admit any CURVE client key (encryption without client authentication).
    #[arg(long, requires = "curve_secret")]
    curve_allow_any: bool,
    /// Admit tcp peers only from this address or CIDR (repeatable; IPv4 and IPv6).
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_allow)]
    allow: Vec<ipnet::IpNet>,
    #[cfg(feature = "jetstream")]
    #[command(flatten)]
    jetstream: jetstream::JetStreamArgs,
}

/// A bind endpoint, or `none` (no publish side).
fn parse_publish_endpoint(s: &str) -> Result<String, String> {
    if s == proxy::PUBLISH_NONE {
        Ok(s.to_string())
    } else {
        parse_bind_endpoint(s)
    }
}

/// Subcommands: tools beside the adaptor (`zmq-adaptor <COMMAND> --help`).
#[derive(Subcommand, Debug)]
enum Command {
    /// Writes a new CURVE certificate pair DIR/NAME.key (public, 0644) and
    /// DIR/NAME.key_secret (0600), creating DIR; never overwrites.
    Keygen {
        /// DIR/NAME of the pair.
        #[arg(value_name = "DIR/NAME")]
        path: PathBuf,
    },
    /// Subscribe to ENDPOINT and print one record per line (escaped when binary), like kcat -C.
    Tail(TailArgs),
    /// Publish stdin lines as records to ENDPOINT (an adaptor's -b side), to try a pipeline without nginx.
    Pub(PubArgs),
    /// Write this program's manual page (roff) to standard output (`make install`
    /// installs it).
    #[command(hide = true)]
    Man,
}

fn parse_allow(s: &str) -> Result<ipnet::IpNet, String> {
    security::parse_cidr(s).map_err(|e| e.to_string())
}

fn keygen(path: &std::path::Path) -> ExitCode {
    match security::keygen(path) {
        Ok(g) => {
            println!("public key: {}", g.keys.public);
            println!(
                "public certificate: {} (give this to peers)",
                g.public_file.display()
            );
            println!(
                "secret certificate: {} (mode 0600, keep private)",
                g.secret_file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zmq-adaptor: keygen: {e}");
            ExitCode::from(1)
        }
    }
}

/// The security settings from the flags; `Err` is the message to exit with.
fn security_from(cli: &Cli) -> Result<Option<ProxySecurity>, String> {
    let curve = match &cli.curve_secret {
        Some(f) => Some(security::load_secret(f).map_err(|e| format!("--curve-secret: {e}"))?),
        None => None,
    };
    let policy = match (&curve, &cli.curve_clients, cli.curve_allow_any) {
        (None, _, _) => CurvePolicy::Off,
        (Some(_), Some(dir), _) => CurvePolicy::Clients(dir.clone()),
        (Some(_), None, true) => CurvePolicy::AllowAny,
        (Some(_), None, false) => {
            return Err(
                "--curve-secret needs --curve-clients DIR (the consumers' and workers' \
                        NAME.key certificates), or --curve-allow-any to admit any client key"
                    .into(),
            )
        }
    };
    if curve.is_none() && cli.allow.is_empty() {
        return Ok(None);
    }
    let log: security::LogSink = Arc::new(|m: &str| eprintln!("zmq-adaptor: {m}"));
    let guard = Guard::new(
        ZapPolicy {
            curve: policy,
            allow: cli.allow.clone(),
        },
        log,
    )
    .map_err(|e| format!("--curve-clients: {e}"))?;
    Ok(Some(ProxySecurity { curve, guard }))
}

fn parse_compression(s: &str) -> Result<zmq_adaptor::packed::Compression, String> {
    zmq_adaptor::packed::Compression::parse(s)
        .ok_or_else(|| format!("'{s}' is not one of none, zstd, lz4"))
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of seconds between 0 and 86400"
        )),
    }
}

/// `zmq-adaptor tail`.
#[derive(clap::Args, Debug)]
struct TailArgs {
    /// Where to subscribe: an adaptor's publish side (-p), e.g. tcp://127.0.0.1:6001.
    #[arg(value_name = "ENDPOINT")]
    endpoint: String,
    /// Only messages whose topic frame (or single frame) starts with TOPIC.
    #[arg(long, value_name = "TOPIC", default_value = "")]
    topic: String,
    /// One JSON object per line: {"topic": …, "record": …}.
    #[arg(long)]
    json: bool,
    /// Exit after N records.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// ENDPOINT is a packed stream (--publish-packed): decode its batches and print
    /// each record; --topic then filters the decoded records.
    #[arg(long)]
    packed: bool,
    #[command(flatten)]
    curve: CurveClientArgs,
}

/// CURVE client options of `tail` and `pub`.
#[derive(clap::Args, Debug)]
struct CurveClientArgs {
    /// Own CURVE certificate (NAME.key_secret from `zmq-adaptor keygen`); its public
    /// key must be in the adaptor's --curve-clients directory.
    #[arg(long, value_name = "FILE", requires = "curve_server_key")]
    curve_secret: Option<PathBuf>,
    /// The adaptor's public certificate (its NAME.key).
    #[arg(long, value_name = "FILE", requires = "curve_secret")]
    curve_server_key: Option<PathBuf>,
}

impl CurveClientArgs {
    fn keys(&self) -> Result<Option<security::ClientKeys>, String> {
        let (Some(secret), Some(server)) = (&self.curve_secret, &self.curve_server_key) else {
            return Ok(None);
        };
        Ok(Some(security::ClientKeys {
            server: security::load_public(server)
                .map_err(|e| format!("--curve-server-key: {e}"))?,
            keys: security::load_secret(secret).map_err(|e| format!("--curve-secret: {e}"))?,
        }))
    }
}

/// `zmq-adaptor pub`.
#[derive(clap::Args, Debug)]
struct PubArgs {
    /// Where to publish: an adaptor's listen side (-b), e.g. ipc:///tmp/nginx_queue_listen.
    #[arg(value_name = "ENDPOINT")]
    endpoint: String,
    /// Send [TOPIC, line] messages instead of single-frame records.
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// Seconds to wait for the peer before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    wait: f64,
    #[command(flatten)]
    curve: CurveClientArgs,
}

/// Parses `argv`; with `--config FILE` the file's flags are placed before the real
/// ones, which therefore override them.
fn parse_args(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    let first = Cli::try_parse_from(&argv)?;
    let Some(path) = first.config.as_ref() else {
        return Ok(first);
    };
    let name = path.display().to_string();
    let from_file = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}: {e}"))
        .and_then(|text| flagfile::args_from_toml(&Cli::command(), &name, &text))
        .map_err(|e| {
            Cli::command().error(
                clap::error::ErrorKind::InvalidValue,
                format!("--config {e}"),
            )
        })?;
    let mut all = Vec::with_capacity(argv.len() + from_file.len());
    all.extend(argv.first().cloned());
    all.extend(from_file);
    all.extend(argv.into_iter().skip(1));
    Cli::try_parse_from(all)
}

/// `zmq-adaptor man`: the manual page clap_mangen makes from the flags above.
fn man_page() -> ExitCode {
    match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zmq-adaptor: man: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_tool(tool: Command) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("zmq-adaptor: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    }
    let result = match tool {
        Command::Keygen { path } => return keygen(&path),
        Command::Man => return man_page(),
        Command::Tail(t) => t.curve.keys().and_then(|curve| {
            tools::tail(
                &tools::TailOptions {
                    endpoint: t.endpoint,
                    topic: t.topic.into_bytes(),
                    json: t.json,
                    count: t.count,
                    curve,
                    packed: t.packed,
                },
                &mut std::io::stdout().lock(),
                &stop,
            )
            .map(|_| ())
        }),
        Command::Pub(p) => p.curve.keys().and_then(|curve| {
            tools::publish_lines(
                &tools::PubOptions {
                    endpoint: p.endpoint,
                    topic: p.topic.map(String::into_bytes),
                    wait: Duration::from_secs_f64(p.wait.max(0.001)),
                    curve,
                },
                &mut std::io::stdin().lock(),
            )
            .map(|n| eprintln!("zmq-adaptor pub: {n} records sent"))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zmq-adaptor: {e}");
            ExitCode::from(1)
        }
    }
}

/// Octal permission bits 0..0777; setuid, setgid and sticky bits are refused.
fn parse_mode(s: &str) -> Result<u32, String> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("'{s}' is not an octal file mode like 0660"))?;
    if m > 0o7777 {
        return Err(format!("'{s}' is not an octal file mode like 0660"));
    }
    if m > 0o777 {
        return Err(format!(
            "'{s}' sets setuid, setgid or sticky bits; give permission bits only (0..0777, e.g. 0660)"
        ));
    }
    Ok(m)
}

/// An endpoint whose syntax can work (see `config::endpoint_problem`).
fn parse_endpoint(s: &str) -> Result<String, String> {
    match zmq_adaptor::config::endpoint_problem(s) {
        None => Ok(s.to_string()),
        Some(why) => Err(format!("bad endpoint '{s}': {why}")),
    }
}

/// An endpoint this process can bind: good syntax, an ipc path in an existing
/// directory, a tcp host that is `*`, an address, a resolvable name or an interface.
fn parse_bind_endpoint(s: &str) -> Result<String, String> {
    let s = parse_endpoint(s)?;
    if let Some(path) = proxy::ipc_path(&s).filter(|p| !p.starts_with('@')) {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        if let Some(d) = dir {
            if !d.is_dir() {
                return Err(format!(
                    "cannot bind '{s}': directory {} does not exist",
                    d.display()
                ));
            }
        }
    }
    if let Some(addr) = s.strip_prefix("tcp://") {
        let (host, _) = addr.rsplit_once(':').unwrap_or((addr, ""));
        let host = host.rsplit_once(';').map_or(host, |(_, h)| h);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let known = host == "*"
            || bare.parse::<std::net::IpAddr>().is_ok()
            || (bare, 0u16)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some())
            || std::ffi::CString::new(bare)
                // SAFETY: NUL-terminated name; if_nametoindex only reads it.
                .map(|c| unsafe { libc::if_nametoindex(c.as_ptr()) } != 0)
                .unwrap_or(false);
        if !known {
            return Err(format!(
                "cannot bind '{s}': '{host}' is not *, an IP address, a resolvable host name or a network interface"
            ));
        }
    }
    Ok(s)
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args_os().collect()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Some(Command::Man) = cli.command {
        return man_page();
    }
    if let Some(command) = cli.command {
        return run_tool(command);
    }
    let security = match security_from(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zmq-adaptor: {e}");
            return ExitCode::from(2);
        }
    };
    let ipc_mode = cli.ipc_mode.unwrap_or(security::DEFAULT_IPC_MODE);
    if let Some(w) = cli.ipc_mode.and_then(security::world_writable_warning) {
        eprintln!("zmq-adaptor: warning: {w}");
    }
    let ipc_group = match cli.ipc_group.as_deref().map(|g| (g, adaptor::group_id(g))) {
        Some((g, None)) => {
            eprintln!("zmq-adaptor: unknown group '{g}'");
            return ExitCode::from(2);
        }
        Some((_, gid)) => gid,
        None => None,
    };
    let reverse = (cli.reverse_listen.is_some() || cli.reverse_push.is_some() || cli.reverse_test)
        .then(|| ReverseOptions {
            listen: cli
                .reverse_listen
                .clone()
                .unwrap_or_else(|| adaptor::DEFAULT_REVERSE_LISTEN.into()),
            push: cli
                .reverse_push
                .clone()
                .unwrap_or_else(|| adaptor::DEFAULT_REVERSE_PUSH.into()),
            test: cli.reverse_test,
        });
    #[cfg(feature = "jetstream")]
    let sink = match cli.jetstream.options() {
        Some(o) => {
            let what = format!("{} on {} (stream {})", o.subject, o.url, o.stream_name());
            match jetstream::JetStreamSink::start(o) {
                Ok(s) => {
                    println!("zmq-adaptor: jetstream: publishing {what}");
                    Some(std::sync::Arc::new(s))
                }
                Err(e) => {
                    eprintln!("zmq-adaptor: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    #[cfg(not(feature = "jetstream"))]
    let sink: Option<std::sync::Arc<NoSink>> = None;
    if cli.publish == proxy::PUBLISH_NONE && sink.is_none() {
        eprintln!("zmq-adaptor: -p none needs --jetstream (records would go nowhere)");
        return ExitCode::from(2);
    }
    let durable = sink.clone().map(|s| {
        zmq_adaptor::durable::DurableHandle(
            s as std::sync::Arc<dyn zmq_adaptor::durable::DurableSink>,
        )
    });
    let drain = Duration::from_secs_f64(cli.drain_timeout);
    let opts = Options {
        proxy: ProxyConfig {
            durable,
            listen: cli.listen,
            publish: cli.publish,
            listen_hwm: cli.listen_hwm,
            publish_hwm: cli.publish_hwm,
            ipc_mode: Some(ipc_mode),
            ipc_group,
            security,
            drain_timeout: drain,
            backlog_records: cli.backlog_records.max(1),
            backlog_bytes: cli.backlog_bytes.max(1),
            max_message: cli.max_message_bytes.max(1024),
            packed: cli.publish_packed.map(|ep| (ep, cli.packed_compression)),
            ..ProxyConfig::default()
        },
        debug: cli.debug || cli.test || cli.reverse_test,
        test: cli.test,
        test_interval: Duration::from_millis(cli.test_interval_ms.max(1)),
        reverse,
        stats_interval: (cli.stats_interval > 0.0)
            .then(|| Duration::from_secs_f64(cli.stats_interval)),
        worker_user: cli.worker_user,
        metrics: cli.metrics,
    };
    if opts.debug {
        let (a, b, c) = zmq::version();
        println!(
            "zmq-adaptor {} (libzmq {a}.{b}.{c})",
            env!("CARGO_PKG_VERSION")
        );
    }

    let (tx, rx) = std::sync::mpsc::channel::<Control>();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    let c = if sig == signal_hook::consts::SIGHUP {
                        Control::Reload
                    } else {
                        Control::Stop
                    };
                    if tx.send(c).is_err() || c == Control::Stop {
                        break;
                    }
                }
            });
        }
        Err(e) => {
            eprintln!("zmq-adaptor: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    }
    let r = adaptor::run(&opts, rx);
    drop(opts);
    if let Some(s) = sink {
        use zmq_adaptor::durable::DurableSink;
        let rep = s.shutdown(drain.max(Duration::from_secs(1)));
        println!(
            "zmq-adaptor: jetstream: stopped: acked={} spooled={} lost={}",
            rep.acked, rep.spooled, rep.lost
        );
    }
    match r {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zmq-adaptor: {e}");
            ExitCode::from(1)
        }
    }
}

/// Stands in for the sink type when the binary is built without JetStream.
#[cfg(not(feature = "jetstream"))]
struct NoSink;

#[cfg(not(feature = "jetstream"))]
impl zmq_adaptor::durable::DurableSink for NoSink {
    fn offer(
        &self,
        rec: zmq_adaptor::durable::DurableRecord,
    ) -> Result<(), zmq_adaptor::durable::Refused> {
        Err(zmq_adaptor::durable::Refused {
            reason: zmq_adaptor::durable::RefuseReason::Closed,
            record: rec,
        })
    }
    fn stats(&self) -> std::sync::Arc<zmq_adaptor::durable::SinkStats> {
        Default::default()
    }
    fn shutdown(&self, _: Duration) -> zmq_adaptor::durable::ShutdownReport {
        Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(file: &str, args: &[&str]) -> Result<Cli, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zmq-adaptor.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["zmq-adaptor".into(), "--config".into(), path.into()];
        argv.extend(args.iter().map(OsString::from));
        parse_args(argv).map_err(|e| e.to_string())
    }

    #[test]
    fn config_file_sets_flags_and_the_command_line_overrides_it() {
        let file =
            "publish = \"tcp://127.0.0.1:7001\"\nbind = \"ipc:///tmp/zmq-adaptor-cfg-test\"\n\
                    stats-interval = 5\nipc-mode = \"0660\"\ndebug = true\nlisten-hwm = 1000\n";
        let c = parse(file, &[]).unwrap();
        assert_eq!(c.publish, "tcp://127.0.0.1:7001");
        assert_eq!(c.listen, "ipc:///tmp/zmq-adaptor-cfg-test");
        assert_eq!(c.stats_interval, 5.0);
        assert_eq!(c.ipc_mode, Some(0o660));
        assert!(c.debug);
        assert_eq!(c.listen_hwm, 1000);
        let c = parse(file, &["-p", "tcp://127.0.0.1:7002", "--stats-interval=0"]).unwrap();
        assert_eq!(c.publish, "tcp://127.0.0.1:7002");
        assert_eq!(c.stats_interval, 0.0);
        assert_eq!(c.listen, "ipc:///tmp/zmq-adaptor-cfg-test");
    }

    #[test]
    fn shipped_example_config_parses_with_every_optional_key() {
        let text = include_str!("../../packaging/zmq-adaptor.toml")
            .replace("/run/zmq-adaptor/", "/tmp/")
            .lines()
            .map(|l| {
                if kv_is_setting(l) {
                    l.trim_start_matches("# ")
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&text, &[]).unwrap();
        assert_eq!(c.listen, "ipc:///tmp/listen");
        assert_eq!(c.ipc_mode, Some(0o660));
        assert_eq!(c.metrics.as_deref(), Some("127.0.0.1:9101"));
    }

    /// `# key = value` lines of the example are settings to uncomment.
    fn kv_is_setting(line: &str) -> bool {
        line.strip_prefix("# ")
            .and_then(|kv| kv.split_once(" = "))
            .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    }

    #[test]
    fn repeatable_flags_accumulate_on_the_command_line_and_in_the_file() {
        let argv = [
            "zmq-adaptor",
            "--allow",
            "127.0.0.1",
            "--allow",
            "10.0.0.0/8",
        ];
        let c = parse_args(argv.map(OsString::from).to_vec()).unwrap();
        assert_eq!(c.allow.len(), 2, "{:?}", c.allow);
        let c = parse(
            "allow = [\"127.0.0.1\", \"::1\", \"192.168.0.0/16\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.allow.len(), 3, "{:?}", c.allow);
        let e = parse("allow = [\"not-an-address\"]\n", &[]).unwrap_err();
        assert!(
            e.contains("zmq-adaptor.toml:1: invalid value 'not-an-address'"),
            "{e}"
        );
    }

    #[test]
    fn config_file_errors_name_the_line() {
        let e = parse(
            "publish = \"tcp://127.0.0.1:7001\"\nstats_interval = 5\n",
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("zmq-adaptor.toml:2: unknown key 'stats_interval'"),
            "{e}"
        );
        let e = parse("\n\nlisten-hwm = \"many\"\n", &[]).unwrap_err();
        assert!(
            e.contains("zmq-adaptor.toml:3: invalid value 'many' for '--listen-hwm"),
            "{e}"
        );
        let e = parse("ipc-mode = \"0999\"\n", &[]).unwrap_err();
        assert!(
            e.contains("zmq-adaptor.toml:1: invalid value '0999'"),
            "{e}"
        );
        let e = parse("debug = \"yes\"\n", &[]).unwrap_err();
        assert!(e.contains("zmq-adaptor.toml:1: 'debug' is a switch"), "{e}");
        let e = parse("publish = \"unterminated\n", &[]).unwrap_err();
        assert!(e.contains("zmq-adaptor.toml:1: "), "{e}");
        let e = parse_args(vec![
            "zmq-adaptor".into(),
            "--config".into(),
            "/nonexistent/x.toml".into(),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("/nonexistent/x.toml: No such file"), "{e}");
    }

    #[test]
    fn subcommands_parse_and_do_not_mix_with_adaptor_flags() {
        let c = parse_args(
            [
                "zmq-adaptor",
                "tail",
                "tcp://127.0.0.1:1",
                "--json",
                "--count",
                "3",
            ]
            .map(OsString::from)
            .to_vec(),
        )
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Tail(TailArgs {
                json: true,
                count: Some(3),
                ..
            }))
        ));
        let c = parse_args(
            ["zmq-adaptor", "pub", "ipc:///x", "--topic", "t"]
                .map(OsString::from)
                .to_vec(),
        )
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Pub(PubArgs { topic: Some(_), .. }))
        ));
        assert!(parse_args(
            ["zmq-adaptor", "-d", "tail", "tcp://x:1"]
                .map(OsString::from)
                .to_vec()
        )
        .is_err());
    }
}

//! `zmq-adaptor`: runs the usage-logging adaptor on a gateway node. Flags of the
//! original `api-gateway-zmq-adaptor` keep their meaning.

#[cfg(feature = "jetstream")]
#[path = "../jetstream.rs"]
#[allow(dead_code)]
mod jetstream;

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use zmq_adaptor::adaptor::{self, Options, ReverseOptions};
use zmq_adaptor::proxy::{self, ProxyConfig};

/// Forwards usage records from nginx workers (XSUB) to subscribers (XPUB).
#[derive(Parser, Debug)]
#[command(name = "zmq-adaptor", version, about, long_about = None)]
struct Cli {
    /// Endpoint where nginx workers' publishers connect (XSUB, bound).
    #[arg(short = 'b', long = "bind", value_name = "ENDPOINT", default_value = proxy::DEFAULT_LISTEN)]
    listen: String,
    /// Endpoint where consumers subscribe (XPUB, bound). Use tcp://0.0.0.0:6001 to expose it on every interface.
    #[arg(short = 'p', long = "publish", value_name = "ENDPOINT", default_value = proxy::DEFAULT_PUBLISH)]
    publish: String,
    /// Reverse channel: endpoint a SUB connects to (bound with -r); enables the channel.
    #[arg(short = 'l', long = "reverse-listen", value_name = "ENDPOINT")]
    reverse_listen: Option<String>,
    /// Reverse channel: endpoint the PUSH binds (default ipc:///tmp/nginx_queue_push); enables the channel.
    #[arg(short = 'u', long = "reverse-push", value_name = "ENDPOINT")]
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
    /// Mode of IPC socket files the adaptor binds, in octal (e.g. 0660).
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    ipc_mode: Option<u32>,
    /// Group of IPC socket files the adaptor binds (name or number).
    #[arg(long, value_name = "GROUP")]
    ipc_group: Option<String>,
    /// User the nginx workers run as; checked for access to IPC sockets at start
    /// (default when run as root: nobody).
    #[arg(long, value_name = "USER")]
    worker_user: Option<String>,
    /// Print a stats line every SECONDS (0 = never).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    stats_interval: f64,
    /// Interval between built-in test messages, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    test_interval_ms: u64,
    /// Receive high-water mark of the listen side, in messages.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    listen_hwm: i32,
    /// Send high-water mark per consumer on the publish side, in messages.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    publish_hwm: i32,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("'{s}' is not an octal file mode like 0660"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let opts = Options {
        proxy: ProxyConfig {
            listen: cli.listen,
            publish: cli.publish,
            listen_hwm: cli.listen_hwm,
            publish_hwm: cli.publish_hwm,
            ipc_mode: cli.ipc_mode,
            ipc_group,
            ..ProxyConfig::default()
        },
        debug: cli.debug || cli.test || cli.reverse_test,
        test: cli.test,
        test_interval: Duration::from_millis(cli.test_interval_ms.max(1)),
        reverse,
        stats_interval: (cli.stats_interval > 0.0)
            .then(|| Duration::from_secs_f64(cli.stats_interval)),
        worker_user: cli.worker_user,
    };
    if opts.debug {
        let (a, b, c) = zmq::version();
        println!(
            "zmq-adaptor {} (libzmq {a}.{b}.{c})",
            env!("CARGO_PKG_VERSION")
        );
    }

    let (tx, rx) = std::sync::mpsc::channel::<()>();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    let _ = tx.send(());
                }
            });
        }
        Err(e) => {
            eprintln!("zmq-adaptor: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    }
    match adaptor::run(&opts, rx) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zmq-adaptor: {e}");
            ExitCode::from(1)
        }
    }
}

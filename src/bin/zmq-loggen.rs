//! `zmq-loggen`: logs records through the library, like an nginx worker would, and
//! prints the logger's counters. For load tests, demos and checking a gateway's path
//! to the adaptor.

use clap::{CommandFactory, Parser};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use zmq_adaptor::{security, Config};

/// Logs COUNT records "PREFIX-NNNNNNN" (optionally with a topic) via the library.
#[derive(Parser, Debug)]
#[command(
    name = "zmq-loggen",
    version,
    about = "Logs generated records through libzmq_adaptor to a zmq-adaptor: to try a pipeline end to end and to measure it"
)]
struct Cli {
    /// Write this program's manual page (roff) to standard output and exit.
    #[arg(long, hide = true)]
    man: bool,
    /// Adaptor listen endpoint to connect to.
    #[arg(short = 'e', long, default_value = zmq_adaptor::config::DEFAULT_ENDPOINT)]
    endpoint: String,
    /// Records to log.
    #[arg(short = 'n', long, default_value_t = 1000)]
    count: u64,
    /// Record prefix.
    #[arg(long, default_value = "rec")]
    prefix: String,
    /// Pad each record to this many bytes (0: no padding).
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// Publish with this topic (two frames) instead of single-frame log.
    #[arg(long)]
    topic: Option<String>,
    /// Records per second (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Queue bound in records.
    #[arg(long)]
    queue_records: Option<usize>,
    /// libzmq send high-water mark.
    #[arg(long)]
    send_hwm: Option<i32>,
    /// Exit linger in milliseconds.
    #[arg(long)]
    linger_ms: Option<u64>,
    /// Flush (wait up to this many ms) before printing the counters.
    #[arg(long)]
    flush_ms: Option<u64>,
    /// The adaptor's public certificate (NAME.key): connect as a CURVE client.
    #[arg(long, value_name = "FILE", requires = "curve_secret")]
    curve_server: Option<std::path::PathBuf>,
    /// This worker's secret certificate (NAME.key_secret, mode 0600).
    #[arg(long, value_name = "FILE", requires = "curve_server")]
    curve_secret: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.man {
        return match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("zmq-loggen: man: {e}");
                ExitCode::from(1)
            }
        };
    }
    let d = Config::default();
    let curve = match (&cli.curve_server, &cli.curve_secret) {
        (Some(server), Some(secret)) => {
            let keys = security::load_public(server).and_then(|server| {
                security::load_secret(secret).map(|keys| security::ClientKeys { server, keys })
            });
            match keys {
                Ok(k) => Some(k),
                Err(e) => {
                    eprintln!("zmq-loggen: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let cfg = Config {
        curve,
        endpoint: cli.endpoint.clone(),
        queue_records: cli.queue_records.unwrap_or(d.queue_records),
        send_hwm: cli.send_hwm.unwrap_or(d.send_hwm),
        linger: cli.linger_ms.map(Duration::from_millis).unwrap_or(d.linger),
        ..d
    };
    if let Err(e) = zmq_adaptor::configure(cfg) {
        eprintln!("zmq-loggen: {e}");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let mut refused = 0u64;
    let mut buf = Vec::with_capacity(cli.size.max(64));
    for i in 0..cli.count {
        if cli.rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / cli.rate as f64);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
        }
        buf.clear();
        buf.extend_from_slice(format!("{}-{i:07}", cli.prefix).as_bytes());
        if buf.len() < cli.size {
            buf.resize(cli.size, b'.');
        }
        let r = match &cli.topic {
            Some(t) => zmq_adaptor::publish(t.as_bytes(), &buf),
            None => zmq_adaptor::log(&buf),
        };
        if r.is_err() {
            refused += 1;
        }
    }
    let flushed = cli
        .flush_ms
        .map(|ms| zmq_adaptor::flush(Duration::from_millis(ms)).is_ok());
    let s = zmq_adaptor::stats();
    println!(
        "refused={refused} enqueued={} sent={} delivered={} in_flight={} dropped_queue_full={} dropped_too_large={} queue_records={} send_retries={} flushed={}",
        s.enqueued,
        s.sent,
        s.delivered,
        s.in_flight,
        s.dropped_queue_full,
        s.dropped_too_large,
        s.queue_records,
        s.send_retries,
        flushed.map_or("n/a", |f| if f { "yes" } else { "no" })
    );
    ExitCode::SUCCESS
}

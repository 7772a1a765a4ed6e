//! Prometheus text exposition of the adaptor's accounting, served at `GET /metrics`
//! (`zmq-adaptor --metrics HOST:PORT`). Every scrape reads one snapshot, so
//! `received == forwarded + Σ dropped + backlog` holds in what it shows.

use crate::accounting::{Accounting, DropReason};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Extra series a caller adds to every scrape (name without `_total`, help, value,
/// counter or gauge).
pub type ExtraFn = Box<dyn Fn() -> Vec<Extra> + Send + Sync>;

/// One extra series.
#[derive(Debug, Clone)]
pub struct Extra {
    /// Metric name (counters without the `_total` suffix).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Value.
    pub value: u64,
    /// Counter (true) or gauge (false).
    pub counter: bool,
    /// One `name="value"` label (a counter family with one member), or none.
    pub label: Option<(&'static str, &'static str)>,
}

type Labels = Vec<(String, String)>;

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let g: Gauge = Gauge::default();
    g.set(v.min(i64::MAX as u64) as i64);
    reg.register(name, help, g);
}

/// Renders the exposition text for `acct` (and `extra` series).
pub fn render(acct: &Accounting, started: Instant, extra: Option<&ExtraFn>) -> String {
    let mut reg = Registry::default();
    let s = acct.snapshot();
    let g = Accounting::get;
    counter(
        &mut reg,
        "zmq_adaptor_records_received",
        "Records received from workers and plain publishers (resent duplicates excluded)",
        s.received,
    );
    counter(
        &mut reg,
        "zmq_adaptor_records_forwarded",
        "Records handed to the publish socket for at least one matching consumer",
        s.forwarded,
    );
    let dropped = Family::<Labels, Counter>::default();
    for (i, r) in DropReason::ALL.iter().enumerate() {
        dropped
            .get_or_create(&vec![("reason".to_string(), r.label().to_string())])
            .inc_by(s.dropped[i]);
    }
    reg.register(
        "zmq_adaptor_records_dropped",
        "Records received that no consumer got, by reason",
        dropped,
    );
    gauge(
        &mut reg,
        "zmq_adaptor_backlog_records",
        "Records received and not yet forwarded or dropped",
        s.backlog,
    );
    gauge(
        &mut reg,
        "zmq_adaptor_backlog_bytes",
        "Bytes of records held in the backlog",
        g(&acct.backlog_bytes),
    );
    counter(
        &mut reg,
        "zmq_adaptor_consumer_drops",
        "Records a lagging consumer missed while others got them (0: the publish side waits instead of dropping)",
        g(&acct.consumer_drops),
    );
    let stall: Counter<f64, std::sync::atomic::AtomicU64> = Counter::default();
    stall.inc_by(g(&acct.stall_us) as f64 / 1e6);
    reg.register(
        "zmq_adaptor_publish_stall_seconds",
        "Seconds forwarding waited because a consumer's queue was full",
        stall,
    );
    counter(
        &mut reg,
        "zmq_adaptor_duplicates",
        "Records a worker sent again that had already been received (discarded)",
        g(&acct.duplicates),
    );
    counter(
        &mut reg,
        "zmq_adaptor_records_returned",
        "Workers' records unacknowledged at a stop: they stay with the workers",
        g(&acct.returned),
    );
    gauge(
        &mut reg,
        "zmq_adaptor_consumers",
        "Consumers connected to the publish side",
        g(&acct.consumers),
    );
    gauge(
        &mut reg,
        "zmq_adaptor_subscriptions",
        "Live subscription prefixes on the publish side",
        g(&acct.subscriptions),
    );
    counter(
        &mut reg,
        "zmq_adaptor_packed_records",
        "Records published on the packed stream (--publish-packed)",
        g(&acct.packed_records),
    );
    counter(
        &mut reg,
        "zmq_adaptor_packed_drops",
        "Records not published on the packed stream: a packed consumer stayed full past the pending bound",
        g(&acct.packed_drops),
    );
    counter(
        &mut reg,
        "zmq_adaptor_auth_failures",
        "Refused handshakes (CURVE key or address not allowed)",
        g(&acct.auth_failures),
    );
    counter(
        &mut reg,
        "zmq_adaptor_messages_in",
        "Messages received from publishers (batches count once)",
        g(&acct.msgs_in),
    );
    counter(
        &mut reg,
        "zmq_adaptor_messages_out",
        "Messages sent to consumers",
        g(&acct.msgs_out),
    );
    let w = acct.worker_totals();
    gauge(
        &mut reg,
        "zmq_logger_workers",
        "Worker loggers that reported to this adaptor",
        w.workers,
    );
    counter(
        &mut reg,
        "zmq_logger_records_accepted",
        "Records accepted by log()/publish() in the workers (summed over workers)",
        w.accepted,
    );
    let wd = Family::<Labels, Counter>::default();
    for (reason, v) in [
        ("queue_full", w.refused_queue_full),
        ("too_large", w.refused_too_large),
        ("undelivered", w.undelivered),
    ] {
        wd.get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc_by(v);
    }
    reg.register(
        "zmq_logger_records_dropped",
        "Records the workers refused (queue_full, too_large) or accepted and gave up (undelivered)",
        wd,
    );
    gauge(
        &mut reg,
        "zmq_adaptor_uptime_seconds",
        "Seconds since the adaptor started",
        started.elapsed().as_secs(),
    );
    process_section(&mut reg, acct);
    if let Some(f) = extra {
        for e in f() {
            if let Some((k, v)) = e.label {
                let fam = Family::<Labels, Counter>::default();
                fam.get_or_create(&vec![(k.to_string(), v.to_string())])
                    .inc_by(e.value);
                reg.register(e.name, e.help, fam);
            } else if e.counter {
                counter(&mut reg, e.name, e.help, e.value);
            } else {
                gauge(&mut reg, e.name, e.help, e.value);
            }
        }
    }
    let mut out = String::new();
    let _ = encode(&mut out, &reg);
    out
}

/// The process/socket section: build info, open peers, and the standard `process_*`
/// series (file descriptors, memory, CPU, start time) Grafana's dashboards expect.
fn process_section(reg: &mut Registry, acct: &Accounting) {
    let info = Family::<Labels, Gauge>::default();
    let (a, b, c) = zmq::version();
    info.get_or_create(&vec![
        ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("libzmq".to_string(), format!("{a}.{b}.{c}")),
        (
            "curve".to_string(),
            zmq::has("curve").unwrap_or(false).to_string(),
        ),
    ])
    .set(1);
    reg.register(
        "zmq_adaptor_build_info",
        "Always 1; labels: the adaptor's version, the libzmq it runs with, CURVE support",
        info,
    );
    let peers = Family::<Labels, Gauge>::default();
    for (side, n) in [
        ("listen", Accounting::get(&acct.publishers)),
        ("publish", Accounting::get(&acct.consumers)),
    ] {
        peers
            .get_or_create(&vec![("side".to_string(), side.to_string())])
            .set(n.min(i64::MAX as u64) as i64);
    }
    reg.register(
        "zmq_adaptor_open_peers",
        "Connections open now: listen = publishers (nginx workers), publish = consumers",
        peers,
    );
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            reg,
            "process_open_fds",
            "Open file descriptors",
            d.count() as u64,
        );
    }
    // statm: size resident shared … in pages.
    let page = {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            p as u64
        } else {
            4096
        }
    };
    if let Some(rss) = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
    {
        gauge(
            reg,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            rss * page,
        );
    }
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: ru points to writable memory for one rusage; RUSAGE_SELF is valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } == 0 {
        // SAFETY: getrusage returned 0, so it filled the struct.
        let ru = unsafe { ru.assume_init() };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let cpu: Counter<f64, std::sync::atomic::AtomicU64> = Counter::default();
        cpu.inc_by(secs(ru.ru_utime) + secs(ru.ru_stime));
        reg.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            cpu,
        );
    }
    let start = PROCESS_START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    gauge(
        reg,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds (first scrape or server start)",
        *start,
    );
}

/// Unix time the metrics server started (an approximation of the process start).
static PROCESS_START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// A running `/metrics` HTTP endpoint. Stopped when dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: String,
}

impl MetricsServer {
    /// Serves `GET /metrics` on `addr` (`HOST:PORT`; port 0 picks one).
    pub fn start(
        addr: &str,
        acct: Arc<Accounting>,
        extra: Option<ExtraFn>,
    ) -> Result<MetricsServer, String> {
        let _ = PROCESS_START.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let bound = server
            .server_addr()
            .to_ip()
            .map(|a| a.to_string())
            .unwrap_or_else(|| addr.to_string());
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("zmq-adaptor-metrics".into())
            .spawn(move || {
                while !st.load(Ordering::Acquire) {
                    let req = match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(r)) => r,
                        _ => continue,
                    };
                    let (code, body, ctype) =
                        if req.url() == "/metrics" && *req.method() == tiny_http::Method::Get {
                            (
                                200,
                                render(&acct, started, extra.as_ref()),
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                        } else {
                            (404, "not found: try /metrics\n".to_string(), "text/plain")
                        };
                    let mut resp = tiny_http::Response::from_string(body).with_status_code(code);
                    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype) {
                        resp = resp.with_header(h);
                    }
                    let _ = req.respond(resp);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
            addr: bound,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

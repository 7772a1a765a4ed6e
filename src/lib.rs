//! ZeroMQ usage-logging pipeline for NGINX/OpenResty API gateways.
//!
//! * [`logger`]: the per-process logger — a bounded lock-free queue filled by the
//!   request path and a drainer thread that batches records to the adaptor.
//! * [`proxy`]: the adaptor's XSUB→XPUB forwarding proxy, steerable, with statistics.
//! * [`ffi`]: the C ABI (`include/zmq_adaptor.h`).
//! * [`adaptor`]: the gateway-node helper (`zmq-adaptor` binary) built on the proxy.
//! * [`tools`]: the binary's consumer-side tools (`tail`, `pub`); [`flagfile`]: its
//!   `--config FILE`.
//! * [`durable`], [`spool`]: the durable hand-off of the adaptor (record ids, the sink
//!   interface, the disk spool). The NATS JetStream sink itself (`src/jetstream.rs`,
//!   async-nats + tokio, feature `jetstream`) is compiled into the `zmq-adaptor`
//!   binary only, never into the cdylib.
//! * [`security`]: CURVE keys and certificates, the ZAP handler, safe IPC paths.

pub mod accounting;
pub mod adaptor;
pub mod config;
mod drainer;
pub mod durable;
pub mod error;
pub mod ffi;
pub mod flagfile;
pub mod forward;
pub mod ipc_lock;
pub mod log;
pub mod logger;
pub mod metrics;
pub mod monitor;
pub mod packed;
pub mod proxy;
pub mod queue;
pub mod relay;
/// cbindgen:ignore
pub mod security;
pub mod spool;
pub mod stats;
pub mod tools;
pub mod wire;
mod zmq_util;

pub use config::Config;
pub use error::{zmq_adaptor_result, Error, Result};
pub use stats::zmq_adaptor_stats as Stats;

/// Queues one record for the adaptor (single frame). See [`logger::Logger::log`].
pub fn log(record: &[u8]) -> Result<()> {
    logger::get()?.log(record)
}

/// Queues a `[topic, record]` two-frame message. See [`logger::Logger::publish`].
pub fn publish(topic: &[u8], record: &[u8]) -> Result<()> {
    logger::get()?.publish(topic, record)
}

/// Waits until everything accepted before the call was acknowledged by the adaptor.
/// Succeeds at once when the logger never started in this process.
pub fn flush(timeout: std::time::Duration) -> Result<()> {
    match logger::running() {
        Some(l) => l.flush(timeout),
        None => Ok(()),
    }
}

/// Counters of this process's logger (all zero before it starts).
pub fn stats() -> Stats {
    logger::running().map(|l| l.stats()).unwrap_or_default()
}

/// Sets the configuration the logger starts with in this process.
pub fn configure(cfg: Config) -> Result<()> {
    logger::configure(cfg)
}

/// Whether the linked libzmq has a capability (`"curve"`, `"ipc"`, …).
pub fn zmq_has(capability: &str) -> bool {
    zmq::has(capability).unwrap_or(false)
}

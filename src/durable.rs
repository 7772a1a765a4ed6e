//! Durable hand-off: records with stable ids, the interface of a durable sink
//! (NATS JetStream now, Kafka next) and its counters.
//!
//! Every record handed to a durable sink carries a [`RecordId`] assigned where the
//! record is born (node, worker pid, worker boot, sequence of the internal hop), or
//! by the adaptor when it receives a record that has none ([`LocalIds`]). The sink
//! sends the id with the record (JetStream: `Nats-Msg-Id`; Kafka: the idempotent
//! producer's key), so a retry after a lost acknowledgement is dropped by the engine.
//!
//! Nothing here depends on an async runtime; the cdylib links none of it into the
//! request path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Stable identity of one record: unique across nodes, worker processes, restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// Node (host) name where the record was born.
    pub node: String,
    /// Pid of the worker that logged it (the adaptor's pid for adaptor-assigned ids).
    pub worker_pid: u32,
    /// Boot stamp of that worker's logger (or of the adaptor), distinguishing pid reuse.
    pub boot: u64,
    /// Sequence number of the record within (node, pid, boot).
    pub seq: u64,
}

impl fmt::Display for RecordId {
    /// `node/pid-boot/seq`, numbers in lower-case hex: the `Nats-Msg-Id`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{:x}-{:x}/{:x}",
            self.node, self.worker_pid, self.boot, self.seq
        )
    }
}

/// One record on its way to a durable sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableRecord {
    /// Its stable id (sent as the dedup key).
    pub id: RecordId,
    /// Topic frame of a `[topic, record]` message; `None` for single-frame records.
    pub topic: Option<Vec<u8>>,
    /// The record itself.
    pub body: Vec<u8>,
}

/// Why a sink refused a record; the record comes back with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// The spool (or the in-memory backlog without a spool) is at its byte bound.
    SpoolFull,
    /// The sink is shutting down or its worker stopped.
    Closed,
}

impl RefuseReason {
    /// Label value for `dropped{reason=…}`: `spool_full`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::SpoolFull => "spool_full",
            RefuseReason::Closed => "closed",
        }
    }
}

/// A record the sink did not take (already counted in [`SinkStats`]).
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub reason: RefuseReason,
    /// The record, for a caller that wants to report it.
    pub record: DurableRecord,
}

/// What a sink did with what it still held when it shut down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Records acknowledged by the engine over the sink's life.
    pub acked: u64,
    /// Records left in the spool for the next start.
    pub spooled: u64,
    /// Records held only in memory (no spool, or spool full) that are gone.
    pub lost: u64,
}

/// A durable sink: takes records from the adaptor's forwarding loop and hands them
/// to a replicated log, exactly once, keeping them on disk while it cannot.
pub trait DurableSink: Send + Sync {
    /// Hands one record over. Never blocks for long: a full in-memory queue spills
    /// to the spool; a full spool refuses (counted as `spool_full`).
    fn offer(&self, rec: DurableRecord) -> Result<(), Refused>;
    /// The sink's counters (shared, live).
    fn stats(&self) -> Arc<SinkStats>;
    /// Stops taking records, delivers what it can within `timeout`, spools the rest.
    /// Later calls (and `offer`s) find it closed; the report of the first call comes
    /// back again.
    fn shutdown(&self, timeout: Duration) -> ShutdownReport;
}

/// Counters of a durable sink; gauges are marked. Exported on `/metrics` under the
/// names given by [`SinkStats::metrics`].
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Records offered to the sink.
    pub offered: AtomicU64,
    /// Publish attempts sent to the engine (first tries and retries).
    pub published: AtomicU64,
    /// Records the engine acknowledged (each record counted once, duplicates included).
    pub acked: AtomicU64,
    /// Acknowledgements that said the engine had the record already (dedup hit).
    pub duplicates: AtomicU64,
    /// Publishes that failed or timed out and will be retried.
    pub retries: AtomicU64,
    /// Records written to the spool (or in-memory backlog).
    pub spooled: AtomicU64,
    /// Gauge: bytes in the spool's segment files.
    pub spool_bytes: AtomicU64,
    /// Gauge: records in the spool not yet acknowledged.
    pub spool_records: AtomicU64,
    /// Records refused because the spool was full.
    pub dropped_spool_full: AtomicU64,
    /// Corrupt spool regions (torn tails) skipped on open or replay.
    pub spool_corrupt: AtomicU64,
    /// Gauge: 1 while connected to the engine.
    pub connected: AtomicU64,
}

impl SinkStats {
    /// `(name, labels, value)` for every counter, Prometheus names and labels.
    pub fn metrics(&self) -> Vec<(&'static str, &'static str, u64)> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("zmq_adaptor_jetstream_offered_total", "", g(&self.offered)),
            (
                "zmq_adaptor_jetstream_published_total",
                "",
                g(&self.published),
            ),
            ("zmq_adaptor_jetstream_acked_total", "", g(&self.acked)),
            (
                "zmq_adaptor_jetstream_duplicates_total",
                "",
                g(&self.duplicates),
            ),
            ("zmq_adaptor_jetstream_retries_total", "", g(&self.retries)),
            ("zmq_adaptor_jetstream_connected", "", g(&self.connected)),
            ("zmq_adaptor_spool_bytes", "", g(&self.spool_bytes)),
            ("zmq_adaptor_spool_records", "", g(&self.spool_records)),
            ("zmq_adaptor_spooled_total", "", g(&self.spooled)),
            (
                "zmq_adaptor_spool_corrupt_total",
                "",
                g(&self.spool_corrupt),
            ),
            (
                "zmq_adaptor_jetstream_dropped_total",
                "reason=\"spool_full\"",
                g(&self.dropped_spool_full),
            ),
        ]
    }

    /// The counters in Prometheus text format (one `name{labels} value` per line).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        for (name, labels, v) in self.metrics() {
            if labels.is_empty() {
                out.push_str(&format!("{name} {v}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {v}\n"));
            }
        }
        out
    }
}

/// A durable sink shared with the adaptor's forwarding thread (cheap to clone).
#[derive(Clone)]
pub struct DurableHandle(pub Arc<dyn DurableSink>);

impl fmt::Debug for DurableHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DurableHandle")
    }
}

impl SinkStats {
    /// The counters as extra series of the adaptor's `/metrics` endpoint.
    pub fn extras(&self) -> Vec<crate::metrics::Extra> {
        use crate::metrics::Extra;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let e = |name, help, value, counter| Extra {
            name,
            help,
            value,
            counter,
            label: None,
        };
        vec![
            e(
                "zmq_adaptor_jetstream_offered",
                "Records handed to the JetStream sink",
                g(&self.offered),
                true,
            ),
            e(
                "zmq_adaptor_jetstream_published",
                "Publishes sent to JetStream (first tries and retries)",
                g(&self.published),
                true,
            ),
            e(
                "zmq_adaptor_jetstream_acked",
                "Records JetStream acknowledged (stored; each record once)",
                g(&self.acked),
                true,
            ),
            e(
                "zmq_adaptor_jetstream_duplicates",
                "Acks saying JetStream had the record already (dedup by Nats-Msg-Id)",
                g(&self.duplicates),
                true,
            ),
            e(
                "zmq_adaptor_jetstream_retries",
                "Publishes that failed or timed out and are retried",
                g(&self.retries),
                true,
            ),
            e(
                "zmq_adaptor_jetstream_connected",
                "1 while connected to NATS",
                g(&self.connected),
                false,
            ),
            e(
                "zmq_adaptor_spool_bytes",
                "Bytes in the spool's segment files",
                g(&self.spool_bytes),
                false,
            ),
            e(
                "zmq_adaptor_spool_records",
                "Records in the spool not yet acknowledged by JetStream",
                g(&self.spool_records),
                false,
            ),
            e(
                "zmq_adaptor_spooled",
                "Records written to the spool",
                g(&self.spooled),
                true,
            ),
            e(
                "zmq_adaptor_spool_corrupt",
                "Corrupt spool tails skipped",
                g(&self.spool_corrupt),
                true,
            ),
            Extra {
                name: "zmq_adaptor_jetstream_dropped",
                help: "Records the JetStream sink refused, by reason",
                value: g(&self.dropped_spool_full),
                counter: true,
                label: Some(("reason", "spool_full")),
            },
        ]
    }
}

/// The forwarding loop's side of a durable sink: builds each record's id (worker
/// stream and seq, or an adaptor-assigned one for plain publishers) and offers it.
#[derive(Debug)]
pub struct DurableOut {
    sink: DurableHandle,
    node: String,
    local: LocalIds,
    /// Also forwarded over ZeroMQ (`false` with `-p none`: the sink is the only way out).
    pub zmq_out: bool,
    acked_seen: u64,
}

impl DurableOut {
    /// Offers through `sink`; ids carry this node's name.
    pub fn new(sink: DurableHandle, zmq_out: bool) -> DurableOut {
        let local = LocalIds::new();
        DurableOut {
            sink,
            node: local.node().to_string(),
            local,
            zmq_out,
            acked_seen: 0,
        }
    }

    /// Offers a worker's record `(pid, boot, seq)`; false when refused (counted).
    pub fn offer_worker(&self, pid: u32, boot: u64, seq: u64, topic: &[u8], body: &[u8]) -> bool {
        let id = RecordId {
            node: self.node.clone(),
            worker_pid: pid,
            boot,
            seq,
        };
        self.offer(id, topic, body)
    }

    /// Offers a plain publisher's record under a fresh adaptor-assigned id.
    pub fn offer_plain(&self, topic: &[u8], body: &[u8]) -> bool {
        self.offer(self.local.next_id(), topic, body)
    }

    fn offer(&self, id: RecordId, topic: &[u8], body: &[u8]) -> bool {
        self.sink
            .0
            .offer(DurableRecord {
                id,
                topic: (!topic.is_empty()).then(|| topic.to_vec()),
                body: body.to_vec(),
            })
            .is_ok()
    }

    /// Records acknowledged by the engine since the last call.
    pub fn newly_acked(&mut self) -> u64 {
        let a = self.sink.0.stats().acked.load(Ordering::Relaxed);
        let d = a.saturating_sub(self.acked_seen);
        self.acked_seen = a;
        d
    }
}

/// Ids for records that arrive without one (plain single-frame publishers): the
/// adaptor's node, pid and boot stamp, and a counter. Assign the id when the record
/// is received, before anything can retry it.
#[derive(Debug)]
pub struct LocalIds {
    node: String,
    pid: u32,
    boot: u64,
    next: AtomicU64,
}

impl LocalIds {
    /// Ids of this process: node name, own pid, boot stamp = start time in µs.
    pub fn new() -> LocalIds {
        let boot = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        LocalIds::with(node_name(), std::process::id(), boot)
    }

    /// Ids with the given parts (tests, or a boot stamp kept elsewhere).
    pub fn with(node: String, pid: u32, boot: u64) -> LocalIds {
        LocalIds {
            node,
            pid,
            boot,
            next: AtomicU64::new(0),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> RecordId {
        RecordId {
            node: self.node.clone(),
            worker_pid: self.pid,
            boot: self.boot,
            seq: self.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The node name these ids carry.
    pub fn node(&self) -> &str {
        &self.node
    }
}

impl Default for LocalIds {
    fn default() -> Self {
        LocalIds::new()
    }
}

/// This host's name (kernel hostname), `localhost` when it cannot be read.
pub fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_renders_stably() {
        let id = RecordId {
            node: "gw1".into(),
            worker_pid: 0x1234,
            boot: 255,
            seq: 16,
        };
        assert_eq!(id.to_string(), "gw1/1234-ff/10");
    }

    #[test]
    fn local_ids_count_up() {
        let ids = LocalIds::with("n".into(), 7, 9);
        assert_eq!(ids.next_id().to_string(), "n/7-9/0");
        assert_eq!(ids.next_id().seq, 1);
    }
}

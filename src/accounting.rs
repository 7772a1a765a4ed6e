//! The adaptor's record accounting: what it received, forwarded and dropped (and
//! why), and the counters its workers report over the internal hop. Written by the
//! forwarding thread, read by anyone (metrics, stats lines, the C ABI).
//!
//! At every moment `received == forwarded + Σ dropped + backlog`, where backlog is
//! derived from the other three (read in an order that never makes it negative).

use crate::wire::{Report, Stream};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Why the adaptor dropped a record (label `reason` of
/// `zmq_adaptor_records_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Consumers were subscribed, but to no prefix the record matches.
    NoSubscriber,
    /// Still held when the adaptor stopped and the drain timeout ran out (records
    /// from plain publishers; records from workers go back to them unacknowledged).
    DrainTimeout,
    /// A message on the internal hop that does not decode (counted per message).
    Malformed,
    /// With `-p none`: the JetStream sink refused the record (its spool was full).
    SpoolFull,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 4] = [
        DropReason::NoSubscriber,
        DropReason::DrainTimeout,
        DropReason::Malformed,
        DropReason::SpoolFull,
    ];
    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::NoSubscriber => "no_subscriber",
            DropReason::DrainTimeout => "drain_timeout",
            DropReason::Malformed => "malformed",
            DropReason::SpoolFull => "spool_full",
        }
    }
}

/// Counters of one adaptor (forwarding proxy).
#[derive(Default)]
pub struct Accounting {
    /// Records received (duplicates of records already received are not counted).
    pub received: AtomicU64,
    /// Records handed to the publish socket for at least one matching consumer.
    pub forwarded: AtomicU64,
    dropped: [AtomicU64; 4],
    /// Records a lagging consumer missed while others got them. The publish socket
    /// never drops (a full consumer queue makes forwarding wait), so this stays 0;
    /// the wait is in `stall_us`.
    pub consumer_drops: AtomicU64,
    /// Microseconds forwarding waited for a full consumer queue.
    pub stall_us: AtomicU64,
    /// Records received again after a worker resent them (discarded).
    pub duplicates: AtomicU64,
    /// Records received from workers and still unacknowledged when the adaptor stopped:
    /// they stay with the workers, which send them to the next adaptor.
    pub returned: AtomicU64,
    /// Bytes held in the backlog now.
    pub backlog_bytes: AtomicU64,
    /// Live subscription prefixes on the publish side.
    pub subscriptions: AtomicU64,
    /// Consumers connected to the publish side (from socket events).
    pub consumers: Arc<AtomicU64>,
    /// Publishers (nginx workers, `pub` tools) connected to the listen side (from
    /// socket events).
    pub publishers: Arc<AtomicU64>,
    /// Records published on the packed stream.
    pub packed_records: AtomicU64,
    /// Records a packed-stream consumer missed (its queue was full).
    pub packed_drops: AtomicU64,
    /// Refused authentications (ZAP and failed CURVE handshakes), when security is
    /// on: the counter of the adaptor's [`crate::security::Guard`].
    pub auth_failures: Arc<AtomicU64>,
    /// Messages and bytes in from publishers, out to consumers.
    pub msgs_in: AtomicU64,
    /// Bytes in from publishers.
    pub bytes_in: AtomicU64,
    /// Messages out to consumers.
    pub msgs_out: AtomicU64,
    /// Bytes out to consumers.
    pub bytes_out: AtomicU64,
    /// Subscription messages from consumers.
    pub subs_in: AtomicU64,
    /// Workers' latest reports, by stream.
    reports: Mutex<HashMap<Stream, Report>>,
}

/// Workers' reports summed over every worker the adaptor heard from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerTotals {
    /// Workers that reported.
    pub workers: u64,
    /// Records accepted by `log`/`publish`.
    pub accepted: u64,
    /// Refused: queue full.
    pub refused_queue_full: u64,
    /// Refused: too large.
    pub refused_too_large: u64,
    /// Accepted and given up (exit before delivery, or over the adaptor's limit).
    pub undelivered: u64,
}

/// A consistent reading of the record counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Records received.
    pub received: u64,
    /// Records forwarded.
    pub forwarded: u64,
    /// Dropped, per [`DropReason::ALL`].
    pub dropped: [u64; 4],
    /// Records received and neither forwarded nor dropped yet.
    pub backlog: u64,
}

impl Snapshot {
    /// Sum of every drop reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

impl Accounting {
    /// Counts `n` records dropped for `why`.
    pub fn count_drop(&self, why: DropReason, n: u64) {
        self.dropped[why as usize].fetch_add(n, SeqCst);
    }

    /// Reads the record counters so that `received == forwarded + dropped + backlog`.
    pub fn snapshot(&self) -> Snapshot {
        // Outcomes first, then received: a record is always received before its
        // outcome is counted, so the difference never goes negative.
        let forwarded = self.forwarded.load(SeqCst);
        let dropped = [0, 1, 2, 3].map(|i| self.dropped[i].load(SeqCst));
        let received = self.received.load(SeqCst);
        let settled = forwarded + dropped.iter().sum::<u64>();
        Snapshot {
            received: received.max(settled),
            forwarded,
            dropped,
            backlog: received.saturating_sub(settled),
        }
    }

    /// Stores a worker's latest report.
    pub fn report(&self, s: Stream, r: Report) {
        self.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(s, r);
    }

    /// The workers' reports summed.
    pub fn worker_totals(&self) -> WorkerTotals {
        let g = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        let mut t = WorkerTotals {
            workers: g.len() as u64,
            ..Default::default()
        };
        for r in g.values() {
            t.accepted += r.accepted;
            t.refused_queue_full += r.refused_queue_full;
            t.refused_too_large += r.refused_too_large;
            t.undelivered += r.undelivered;
        }
        t
    }

    /// Relaxed load helper.
    pub fn get(a: &AtomicU64) -> u64 {
        a.load(Relaxed)
    }
}

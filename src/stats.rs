//! Per-process logger counters, as one plain struct shared by Rust and C.

/// A snapshot of the logger counters of the calling process.
///
/// All counts start at zero when the logger starts in a process (first record after
/// start-up or after `fork`). `queue_records`/`queue_bytes`/`in_flight` are current
/// levels. Accounting: `enqueued == delivered + in_flight + queue_records +
/// undelivered` once the drainer is idle; refused records (`dropped_*`) were never
/// accepted.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct zmq_adaptor_stats {
    /// Records accepted into the queue.
    pub enqueued: u64,
    /// Records handed to libzmq for delivery to the adaptor (first sends only).
    pub sent: u64,
    /// Records refused because the queue was at its record or byte bound.
    pub dropped_queue_full: u64,
    /// Records refused because they were larger than `max_record_bytes`.
    pub dropped_too_large: u64,
    /// Records waiting in the queue now.
    pub queue_records: u64,
    /// Payload bytes held now: queued, or sent and awaiting the adaptor's acknowledgement.
    pub queue_bytes: u64,
    /// Times libzmq refused a send at its high-water mark; the batch was kept and retried.
    pub send_retries: u64,
    /// 1 while a live adaptor is known (its heartbeats arrive and it takes records), else 0.
    pub peer_subscribed: u64,
    /// libzmq errors met by the drainer (connect or send); see the log for details.
    pub zmq_errors: u64,
    /// Records the adaptor acknowledged (forwarded): they left this process's accounting.
    pub delivered: u64,
    /// Records sent to the adaptor and not yet acknowledged (sent again to the next
    /// adaptor instance if this one goes away).
    pub in_flight: u64,
    /// Accepted records given up: larger than the adaptor's message limit, or not
    /// acknowledged when the logger stopped at process exit.
    pub undelivered: u64,
}

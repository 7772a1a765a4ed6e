//! Per-process logger counters, as one plain struct shared by Rust and C.

/// A snapshot of the logger counters of the calling process.
///
/// All counts start at zero when the logger starts in a process (first record after
/// start-up or after `fork`). `queue_records`/`queue_bytes` are the current depth.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct zmq_adaptor_stats {
    /// Records accepted into the queue.
    pub enqueued: u64,
    /// Records handed to libzmq for delivery to the adaptor.
    pub sent: u64,
    /// Records refused because the queue was at its record or byte bound.
    pub dropped_queue_full: u64,
    /// Records refused because they were larger than `max_record_bytes`.
    pub dropped_too_large: u64,
    /// Records waiting in the queue now.
    pub queue_records: u64,
    /// Payload bytes waiting in the queue now (including a record held for retry).
    pub queue_bytes: u64,
    /// Times libzmq refused a send at its high-water mark; the record stayed queued.
    pub send_retries: u64,
    /// 1 while the adaptor's subscription is known (records flow), else 0.
    pub peer_subscribed: u64,
    /// libzmq errors met by the drainer (connect or send); see stderr for details.
    pub zmq_errors: u64,
}

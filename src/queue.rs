//! The bounded, lock-free record queue between the request path and the drainer.
//!
//! Bounded twice: by record count (the `ArrayQueue` capacity) and by payload bytes
//! (an atomic budget). A push that would pass either bound is refused, counted, and
//! the record is returned to nobody: the caller learns it from the result code.

use crate::error::{zmq_adaptor_result as R, Result};
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Largest topic, so its length fits the record header.
pub const MAX_TOPIC: usize = u16::MAX as usize;

/// Capacity of a recyclable record buffer: records up to this size (topic included)
/// are copied into buffers that the drainer hands back for reuse, so the request
/// path allocates only while the pool is warming up. Freeing on the drainer thread
/// memory allocated on the request thread made glibc's allocator take its arena lock
/// on both sides (measured ≈2× the cost of the push for 200-byte records).
pub(crate) const POOLED_CAPACITY: usize = 512;
/// Records up to this size are allocated plainly: glibc serves chunks this small from
/// its fast bins, which a free on another thread does not slow down (measured: the
/// pool costs more than it saves below this size).
const UNPOOLED_MAX: usize = 112;
/// Most recyclable buffers kept for reuse (bounds the pool to 512 KiB).
const POOL_BUFFERS: usize = 1024;

/// One queued message: optional topic frame and the record frame, in one allocation.
pub struct Record {
    /// `topic ++ record`, copied from the caller.
    buf: Vec<u8>,
    /// How many leading bytes of `buf` are the topic (0 = single-frame `log`).
    topic_len: u16,
}

impl Record {
    /// The topic frame, if this record was published with one.
    pub fn topic(&self) -> Option<&[u8]> {
        (self.topic_len > 0).then(|| &self.buf[..self.topic_len as usize])
    }
    /// The record frame.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.topic_len as usize..]
    }
    /// Payload bytes charged against the byte bound.
    pub fn charge(&self) -> usize {
        self.buf.len()
    }
}

/// Counters that only the request path writes, kept on their own cache line.
#[repr(align(64))]
#[derive(Default)]
struct ProducerSide {
    /// Records accepted into the queue since the process's logger started.
    enqueued: AtomicU64,
    /// Payload bytes now in the queue or in the drainer's window (not yet acknowledged).
    bytes: AtomicUsize,
}

/// Counters for refused records (rare path).
#[repr(align(64))]
#[derive(Default)]
struct Drops {
    /// Refused because a bound (records or bytes) was reached.
    queue_full: AtomicU64,
    /// Refused because larger than `max_record_bytes`.
    too_large: AtomicU64,
}

/// The queue plus its accounting.
pub struct RecordQueue {
    /// The lock-free ring; its capacity is the record bound.
    ring: ArrayQueue<Record>,
    /// Byte bound on queued payload.
    max_bytes: usize,
    /// Largest single record accepted.
    max_record: usize,
    /// `wake_at - 1`, where `wake_at` (a power of two) is the depth at which `push`
    /// reports that the drainer should wake early; a mask keeps division off the hot path.
    wake_mask: u64,
    /// Request-path counters.
    prod: ProducerSide,
    /// Record buffers of `POOLED_CAPACITY` handed back by the drainer.
    pool: ArrayQueue<Vec<u8>>,
    /// Refusal counters.
    drops: Drops,
}

/// What a successful push asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Nothing more to do.
    Queued,
    /// The queue just reached the early-wake depth: wake the drainer.
    WakeDrainer,
}

impl RecordQueue {
    /// A queue bounded by `records` and `bytes`, refusing records over `max_record`.
    pub fn new(records: usize, bytes: usize, max_record: usize, wake_at: usize) -> Self {
        RecordQueue {
            ring: ArrayQueue::new(records.max(1)),
            max_bytes: bytes,
            max_record,
            wake_mask: (wake_at.clamp(1, records.max(1)).next_power_of_two() as u64) - 1,
            prod: ProducerSide::default(),
            pool: ArrayQueue::new(POOL_BUFFERS),
            drops: Drops::default(),
        }
    }

    /// Copies `topic ++ body` into the queue. Never blocks; allocates the copy only.
    pub fn push(&self, topic: &[u8], body: &[u8]) -> Result<Pushed> {
        if body.is_empty() {
            return Err(R::ZMQ_ADAPTOR_ERR_EMPTY);
        }
        if topic.len() > MAX_TOPIC {
            self.drops.too_large.fetch_add(1, Relaxed);
            return Err(R::ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE);
        }
        // Checked: nothing between the budget charge below and the ring push may
        // panic, or the charge would never be returned.
        let n = match topic.len().checked_add(body.len()) {
            Some(n) if n <= self.max_record => n,
            _ => return Err(self.refuse_too_large()),
        };
        // `max_record` and `max_bytes` are bounded by the configuration limits, so the
        // counter (at most `max_bytes` plus one record per concurrent producer) cannot wrap.
        let before = self.prod.bytes.fetch_add(n, Relaxed);
        if before.saturating_add(n) > self.max_bytes {
            self.prod.bytes.fetch_sub(n, Relaxed);
            self.drops.queue_full.fetch_add(1, Relaxed);
            return Err(R::ZMQ_ADAPTOR_ERR_QUEUE_FULL);
        }
        let mut buf = if n > UNPOOLED_MAX && n <= POOLED_CAPACITY {
            self.pool
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(POOLED_CAPACITY))
        } else {
            Vec::with_capacity(n)
        };
        buf.extend_from_slice(topic);
        buf.extend_from_slice(body);
        let rec = Record {
            buf,
            topic_len: topic.len() as u16,
        };
        if self.ring.push(rec).is_err() {
            self.prod.bytes.fetch_sub(n, Relaxed);
            self.drops.queue_full.fetch_add(1, Relaxed);
            return Err(R::ZMQ_ADAPTOR_ERR_QUEUE_FULL);
        }
        let seq = self.prod.enqueued.fetch_add(1, Relaxed) + 1;
        // Cheap early-wake test: only when the depth crosses the mark exactly.
        if seq & self.wake_mask == 0 && self.ring.len() as u64 > self.wake_mask {
            return Ok(Pushed::WakeDrainer);
        }
        Ok(Pushed::Queued)
    }

    /// Counts a record refused for its size (also for lengths the C layer refuses
    /// before it can look at the bytes) and returns the code to give back.
    pub fn refuse_too_large(&self) -> crate::error::Error {
        self.drops.too_large.fetch_add(1, Relaxed);
        R::ZMQ_ADAPTOR_ERR_TOO_LARGE
    }

    /// Takes the oldest record (drainer side).
    pub fn pop(&self) -> Option<Record> {
        self.ring.pop()
    }

    /// Returns `bytes` of budget once the adaptor acknowledged records (drainer side).
    pub fn release(&self, bytes: usize) {
        self.prod.bytes.fetch_sub(bytes, Relaxed);
    }

    /// Hands the buffers of sent records back for reuse (drainer side, once per
    /// batch); buffers that are not of the pooled size, or beyond the pool's bound,
    /// are freed.
    pub fn recycle(&self, spent: &mut Vec<Record>) {
        for r in spent.drain(..) {
            let mut b = r.buf;
            if b.capacity() == POOLED_CAPACITY {
                b.clear();
                let _ = self.pool.push(b);
            }
        }
    }

    /// Records accepted so far.
    pub fn enqueued(&self) -> u64 {
        self.prod.enqueued.load(Relaxed)
    }
    /// Records now in the ring.
    pub fn depth(&self) -> usize {
        self.ring.len()
    }
    /// Payload bytes held: queued, or sent and not yet acknowledged by the adaptor.
    pub fn depth_bytes(&self) -> usize {
        self.prod.bytes.load(Relaxed)
    }
    /// Records refused at a bound.
    pub fn dropped_queue_full(&self) -> u64 {
        self.drops.queue_full.load(Relaxed)
    }
    /// Records refused for size.
    pub fn dropped_too_large(&self) -> u64 {
        self.drops.too_large.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_order() {
        let q = RecordQueue::new(3, 1000, 200, 2);
        assert_eq!(q.push(b"", b""), Err(R::ZMQ_ADAPTOR_ERR_EMPTY));
        assert_eq!(q.push(b"", &[0u8; 201]), Err(R::ZMQ_ADAPTOR_ERR_TOO_LARGE));
        assert_eq!(q.push(b"t", b"1"), Ok(Pushed::Queued));
        assert_eq!(q.push(b"", b"2"), Ok(Pushed::WakeDrainer));
        assert_eq!(q.push(b"", b"3"), Ok(Pushed::Queued));
        assert_eq!(q.push(b"", b"4"), Err(R::ZMQ_ADAPTOR_ERR_QUEUE_FULL));
        assert_eq!(q.enqueued(), 3);
        assert_eq!(q.dropped_queue_full(), 1);
        assert_eq!(q.dropped_too_large(), 1);
        assert_eq!(q.depth_bytes(), 4);
        let r = q.pop().unwrap();
        assert_eq!(r.topic(), Some(&b"t"[..]));
        assert_eq!(r.body(), b"1");
        q.release(r.charge());
        assert_eq!(q.pop().unwrap().body(), b"2");
        assert_eq!(q.depth(), 1);
        // Small records are not pooled; a pooled buffer is reused, cleared.
        q.recycle(&mut vec![r]);
        assert_eq!(q.pool.len(), 0);
        assert!(q.push(b"", &[7u8; 150]).is_ok());
        q.pop();
        let big = q.pop().unwrap();
        assert_eq!(big.body(), &[7u8; 150][..]);
        q.recycle(&mut vec![big]);
        assert_eq!(q.pool.len(), 1);
        assert!(q.push(b"t", &[8u8; 120]).is_ok());
        assert_eq!(q.pool.len(), 0);
        let r = q.pop().unwrap();
        assert_eq!((r.topic(), r.body()), (Some(&b"t"[..]), &[8u8; 120][..]));
    }

    #[test]
    fn byte_bound() {
        let q = RecordQueue::new(100, 10, 10, 50);
        assert!(q.push(b"", &[1; 6]).is_ok());
        assert_eq!(q.push(b"", &[1; 5]), Err(R::ZMQ_ADAPTOR_ERR_QUEUE_FULL));
        assert!(q.push(b"", &[1; 4]).is_ok());
        assert_eq!(q.depth_bytes(), 10);
        assert_eq!(q.dropped_queue_full(), 1);
    }
}

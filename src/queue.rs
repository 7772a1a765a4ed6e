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

/// One queued message: optional topic frame and the record frame, in one allocation.
pub struct Record {
    /// `topic ++ record`, copied from the caller.
    buf: Box<[u8]>,
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
    /// Payload bytes now in the queue (and in the drainer's hands, not yet sent).
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
        let n = topic.len() + body.len();
        if n > self.max_record {
            self.drops.too_large.fetch_add(1, Relaxed);
            return Err(R::ZMQ_ADAPTOR_ERR_TOO_LARGE);
        }
        let before = self.prod.bytes.fetch_add(n, Relaxed);
        if before + n > self.max_bytes {
            self.prod.bytes.fetch_sub(n, Relaxed);
            self.drops.queue_full.fetch_add(1, Relaxed);
            return Err(R::ZMQ_ADAPTOR_ERR_QUEUE_FULL);
        }
        let mut buf = Vec::with_capacity(n);
        buf.extend_from_slice(topic);
        buf.extend_from_slice(body);
        let rec = Record {
            buf: buf.into_boxed_slice(),
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

    /// Takes the oldest record (drainer side).
    pub fn pop(&self) -> Option<Record> {
        self.ring.pop()
    }

    /// Returns `bytes` of budget once records left the process (drainer side).
    pub fn release(&self, bytes: usize) {
        self.prod.bytes.fetch_sub(bytes, Relaxed);
    }

    /// Records accepted so far.
    pub fn enqueued(&self) -> u64 {
        self.prod.enqueued.load(Relaxed)
    }
    /// Records now in the ring.
    pub fn depth(&self) -> usize {
        self.ring.len()
    }
    /// Payload bytes not yet handed to libzmq.
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
        let q = RecordQueue::new(3, 1000, 100, 2);
        assert_eq!(q.push(b"", b""), Err(R::ZMQ_ADAPTOR_ERR_EMPTY));
        assert_eq!(q.push(b"", &[0u8; 101]), Err(R::ZMQ_ADAPTOR_ERR_TOO_LARGE));
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

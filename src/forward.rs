//! The adaptor's forwarding loop: workers' batches (and plain publishers' records)
//! in on the XSUB, one record per message out on the XPUB, with exact accounting.
//!
//! * Batches are unpacked; each record leaves as the message it was logged as
//!   (`[record]` or `[topic, record]`), byte for byte.
//! * Per worker stream, the records already received are remembered (sequence
//!   ranges), so a batch sent again after an adaptor restart is not forwarded twice.
//! * A worker's records are acknowledged (heartbeat `H`) only once forwarded (or
//!   counted as dropped); until then they stay the worker's responsibility.
//! * The consumer gate is the set of live subscription prefixes, as libzmq's XPUB
//!   reports it without verbose mode: a prefix appears when its first consumer
//!   subscribes and disappears when its last one unsubscribes or disconnects, so
//!   stray unsubscribes and duplicate subscribes change nothing. With no prefix,
//!   records wait (bounded); a record no prefix matches is dropped and counted.
//! * The publish socket never drops (`ZMQ_XPUB_NODROP`): a consumer whose queue is
//!   full makes forwarding wait (the wait is counted); records wait in the bounded
//!   backlog, then in the workers, where every refusal is counted.
//! * Stop: workers are told to stop sending (heartbeat state 1), their last batches
//!   are read (until each answered with a fin), the backlog goes to consumers for up
//!   to the drain timeout, the final acknowledgements go out (state 2), and what was
//!   left is counted: plain publishers' records as dropped (`drain_timeout`), workers'
//!   records as returned (they resend them to the next adaptor).

use crate::accounting::{Accounting, DropReason};
use crate::packed::{self, Compression};
use crate::proxy::{CaptureFn, Captured};
use crate::wire::{self, AdaptorState, Kind, Stream};
use crate::zmq_util;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Heartbeat (full acknowledgement table) period.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
/// Shortest gap between acknowledgement-only heartbeats, sent right after the turn
/// that forwarded the records. Every heartbeat reaches every worker (XSUB sends
/// upstream to all publishers), so this bounds the wake-ups acknowledgements cost each
/// worker; a worker that waits for its acknowledgement (`flush`) sends a probe and
/// gets a heartbeat at once.
const ACK_EVERY: Duration = Duration::from_millis(5);
/// Acknowledgements held back by `ACK_EVERY` go out on a timer this long after the
/// previous ones (the adaptor wakes for nothing else).
const ACK_LATEST: Duration = Duration::from_millis(50);
/// Wait before retrying a publish that NODROP refused (a consumer's pipe is full).
const STALL_RETRY: Duration = Duration::from_micros(100);
/// Most messages read or records sent per turn before control is looked at.
const BURST: usize = 2048;
/// A stream not heard from for this long is left out of the full heartbeat table.
const STREAM_IDLE: Duration = Duration::from_secs(30);
/// During a stop, how long to wait for workers' fins.
const FIN_WAIT: Duration = Duration::from_millis(1500);

/// Limits of the forwarder.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records held at most (received, not yet forwarded).
    pub backlog_records: usize,
    /// Bytes held at most.
    pub backlog_bytes: usize,
    /// Largest message accepted from a publisher (also told to workers).
    pub max_message: usize,
}

/// One record waiting to be forwarded.
enum Payload {
    /// A record inside a batch frame: (topic offset, topic len, body offset, body len).
    Packed {
        batch: Arc<zmq::Message>,
        topic: (usize, usize),
        body: (usize, usize),
    },
    /// A single-frame message from a plain publisher, as received (no allocation).
    Single(zmq::Message),
    /// A multi-frame message from a plain publisher, every frame as received.
    Legacy(Vec<zmq::Message>),
}

struct Held {
    /// Worker stream and seq; None for plain publishers.
    origin: Option<(Stream, u64)>,
    payload: Payload,
    bytes: usize,
    /// Published on the packed stream while it had a subscriber: delivered even
    /// when no regular consumer takes it.
    packed: bool,
}

impl Held {
    /// Frames of the message this record leaves as.
    fn frame_count(&self) -> usize {
        match &self.payload {
            Payload::Packed { topic, .. } => 1 + (topic.1 > 0) as usize,
            Payload::Single(_) => 1,
            Payload::Legacy(parts) => parts.len(),
        }
    }
    /// Frame `i` (< `frame_count()`), without allocating.
    fn frame(&self, i: usize) -> &[u8] {
        match &self.payload {
            Payload::Packed { batch, topic, body } => {
                let (off, len) = if i == 0 && topic.1 > 0 { *topic } else { *body };
                &batch[off..off + len]
            }
            Payload::Single(m) => m,
            Payload::Legacy(parts) => &parts[i],
        }
    }
    /// The record and its topic (empty when it has none), as the packed stream
    /// carries them.
    fn topic_record(&self) -> (&[u8], &[u8]) {
        match &self.payload {
            Payload::Packed { batch, topic, body } => (
                &batch[topic.0..topic.0 + topic.1],
                &batch[body.0..body.0 + body.1],
            ),
            Payload::Single(m) => (&[], m),
            Payload::Legacy(parts) => match parts.as_slice() {
                [] => (&[], &[]),
                [r] => (&[], r),
                [t, r, ..] => (t, r),
            },
        }
    }
    fn first_frame(&self) -> &[u8] {
        match &self.payload {
            Payload::Packed { batch, topic, body } => {
                if topic.1 > 0 {
                    &batch[topic.0..topic.0 + topic.1]
                } else {
                    &batch[body.0..body.0 + body.1]
                }
            }
            Payload::Single(m) => m,
            Payload::Legacy(parts) => parts.first().map(|m| &m[..]).unwrap_or(&[]),
        }
    }
}

/// What the forwarder knows about one worker stream.
struct StreamState {
    /// Received sequence ranges, sorted, merged, inclusive; the first starts at 0.
    received: Vec<(u64, u64)>,
    /// Records of this stream in the backlog.
    held: u64,
    /// Seqs of those records as runs `(next, last)`, in backlog order. The backlog is
    /// a FIFO, so records leave from the front run; the lowest held seq is the
    /// smallest `next` (normally the front's), found without walking the backlog.
    held_runs: VecDeque<(u64, u64)>,
    /// Last ack sent.
    acked_sent: u64,
    /// Fin received (stop in progress).
    fin: bool,
    /// Sent its last report (process exited).
    gone: bool,
    last_seen: Instant,
}

impl StreamState {
    fn new(acked: u64) -> Self {
        StreamState {
            received: vec![(0, acked)],
            held: 0,
            held_runs: VecDeque::new(),
            acked_sent: 0,
            fin: false,
            gone: false,
            last_seen: Instant::now(),
        }
    }
    /// Marks everything up to `acked` as received (the worker says it is settled).
    fn settle_below(&mut self, acked: u64) {
        self.insert(0, acked);
    }
    fn contains(&self, seq: u64) -> bool {
        self.received.iter().any(|&(a, b)| a <= seq && seq <= b)
    }
    fn insert(&mut self, lo: u64, hi: u64) {
        self.received.push((lo, hi));
        self.received.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(self.received.len());
        for &(a, b) in &self.received {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        self.received = out;
    }
    /// Notes a record entering the backlog.
    fn hold(&mut self, seq: u64) {
        self.held += 1;
        match self.held_runs.back_mut() {
            Some(r) if r.1 + 1 == seq => r.1 = seq,
            _ => self.held_runs.push_back((seq, seq)),
        }
    }
    /// Notes the oldest held record leaving the backlog.
    fn release(&mut self) {
        self.held = self.held.saturating_sub(1);
        if let Some(r) = self.held_runs.front_mut() {
            if r.0 < r.1 {
                r.0 += 1;
            } else {
                self.held_runs.pop_front();
            }
        }
    }
    /// Lowest seq still in the backlog.
    fn lowest_held(&self) -> Option<u64> {
        self.held_runs.iter().map(|r| r.0).min()
    }
    /// Highest seq below which everything was received.
    fn floor(&self) -> u64 {
        self.received.first().map_or(0, |r| r.1)
    }
}

/// Packed batches held at most while a packed consumer's queue is full.
const PACKED_PENDING: usize = 1024;
/// Size past which the adaptor starts a new batch of its own on the packed stream
/// (plain publishers' records, records published late).
const PACKED_BATCH_BYTES: usize = 1 << 20;

/// The packed consumer stream's side of the forwarder.
pub struct PackedOut {
    sock: zmq::Socket,
    compression: Compression,
    /// Encoded frames (and their record counts) a full consumer queue refused.
    pending: VecDeque<(Vec<u8>, u64)>,
    /// Plain publishers' records, packed under the adaptor's own stream.
    legacy: Option<wire::BatchWriter>,
    stream: Stream,
    next_seq: u64,
    /// Live subscription prefixes of packed consumers.
    subs: Vec<Vec<u8>>,
    /// Worker records being packed by the adaptor (see `add_record`): the
    /// batch being built and the seq its next record must have.
    packing: Option<(wire::BatchWriter, Stream, u64)>,
}

impl PackedOut {
    /// Whether a packed consumer is subscribed (to the signature or everything).
    fn live(&self) -> bool {
        self.subs
            .iter()
            .any(|p| packed::SIGNATURE.starts_with(p) || p.starts_with(&packed::SIGNATURE))
    }

    /// Tracks packed consumers' subscriptions (libzmq reports each prefix once).
    fn read_subscriptions(&mut self) {
        while let Ok(m) = self.sock.recv_bytes(zmq::DONTWAIT) {
            match m.split_first() {
                Some((1, p)) if !self.subs.iter().any(|s| s == p) => self.subs.push(p.to_vec()),
                Some((0, p)) => self.subs.retain(|s| s != p),
                _ => {}
            }
        }
    }

    /// A packed stream on a bound XPUB.
    pub fn new(
        mut sock: zmq::Socket,
        compression: Compression,
        instance: u64,
    ) -> zmq::Result<Self> {
        zmq_util::set_xpub_nodrop(&mut sock)?;
        Ok(PackedOut {
            sock,
            compression,
            pending: VecDeque::new(),
            legacy: None,
            stream: Stream {
                pid: std::process::id(),
                boot: instance,
            },
            next_seq: 1,
            subs: Vec::new(),
            packing: None,
        })
    }

    /// Publishes one batch body. The socket never drops: while a packed consumer's
    /// queue is full, batches wait here (bounded); past that bound a batch is not
    /// published and its records are counted (`zmq_adaptor_packed_drops_total`).
    fn send(&mut self, body: &[u8], records: u64, acct: &Accounting) -> zmq::Result<()> {
        let frame = packed::encode(body, self.compression);
        self.pending.push_back((frame, records));
        self.flush(acct)?;
        while self.pending.len() > PACKED_PENDING {
            if let Some((_, n)) = self.pending.pop_back() {
                acct.packed_drops.fetch_add(n, Relaxed);
            }
        }
        Ok(())
    }

    /// Hands pending batches to the socket while it takes them.
    fn flush(&mut self, acct: &Accounting) -> zmq::Result<()> {
        while let Some((frame, n)) = self.pending.front() {
            match self
                .sock
                .send(&packed::SIGNATURE[..], zmq::DONTWAIT | zmq::SNDMORE)
            {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Ok(()),
                Err(e) => return Err(e),
            }
            self.sock.send(&frame[..], zmq::DONTWAIT)?;
            acct.packed_records.fetch_add(*n, Relaxed);
            self.pending.pop_front();
        }
        Ok(())
    }

    fn add_legacy(&mut self, topic: &[u8], record: &[u8], acct: &Accounting) -> zmq::Result<()> {
        if self
            .legacy
            .as_ref()
            .is_some_and(|w| w.len() >= PACKED_BATCH_BYTES)
        {
            self.flush_legacy(acct)?;
        }
        let w = self.legacy.get_or_insert_with(|| {
            wire::BatchWriter::new(Vec::new(), self.stream, self.next_seq, self.next_seq - 1)
        });
        w.push(topic, record);
        Ok(())
    }

    /// Packs one record for the packed stream: a worker's record under its own stream
    /// and seq (consecutive records of one stream share a batch, sent by
    /// `flush_records`), a plain publisher's under the adaptor's. Used for records held
    /// for a consumer before any packed consumer subscribed, and for the records of a
    /// resent batch not seen before.
    fn add_record(
        &mut self,
        origin: Option<(Stream, u64)>,
        acked: u64,
        topic: &[u8],
        record: &[u8],
        acct: &Accounting,
    ) -> zmq::Result<()> {
        let Some((stream, seq)) = origin else {
            return self.add_legacy(topic, record, acct);
        };
        let same = self.packing.as_ref().is_some_and(|(w, s, next)| {
            *s == stream && *next == seq && w.len() < PACKED_BATCH_BYTES
        });
        if !same {
            self.flush_records(acct)?;
            let w = wire::BatchWriter::new(Vec::new(), stream, seq, acked);
            self.packing = Some((w, stream, seq));
        }
        if let Some((w, _, next)) = self.packing.as_mut() {
            w.push(topic, record);
            *next = seq + 1;
        }
        Ok(())
    }

    /// Sends what `add_record` gathered.
    fn flush_records(&mut self, acct: &Accounting) -> zmq::Result<()> {
        if let Some((w, _, _)) = self.packing.take() {
            let n = w.count() as u64;
            self.send(&w.finish(), n, acct)?;
        }
        self.flush_legacy(acct)
    }

    fn flush_legacy(&mut self, acct: &Accounting) -> zmq::Result<()> {
        if let Some(w) = self.legacy.take() {
            let n = w.count() as u64;
            self.next_seq += n;
            let body = w.finish();
            self.send(&body, n, acct)?;
        }
        Ok(())
    }
}

/// Why the loop ended.
pub enum Exit {
    /// TERMINATE: stop at once.
    Now,
    /// DRAIN: stop gracefully within the timeout.
    Drain(Duration),
}

/// The forwarding loop's state, owned by its thread.
pub struct Forwarder {
    /// Publishers' side.
    pub frontend: zmq::Socket,
    /// Consumers' side.
    pub backend: zmq::Socket,
    /// Commands: PAUSE, RESUME, TERMINATE, `DRAIN <ms>`, STATISTICS.
    pub control: zmq::Socket,
    /// Debug hook.
    pub capture: Option<CaptureFn>,
    /// Shared counters.
    pub acct: Arc<Accounting>,
    /// Limits.
    pub limits: Limits,
    instance: u64,
    subs: Vec<Vec<u8>>,
    backlog: VecDeque<Held>,
    streams: HashMap<Stream, StreamState>,
    last_heartbeat: Instant,
    last_ack: Instant,
    acks_dirty: bool,
    stalled_since: Option<Instant>,
    paused: bool,
    packed: Option<PackedOut>,
    durable: Option<crate::durable::DurableOut>,
}

impl Forwarder {
    /// A forwarder over ready sockets.
    pub fn new(
        frontend: zmq::Socket,
        backend: zmq::Socket,
        control: zmq::Socket,
        capture: Option<CaptureFn>,
        acct: Arc<Accounting>,
        limits: Limits,
    ) -> Self {
        Forwarder {
            frontend,
            backend,
            control,
            capture,
            acct,
            limits,
            instance: wire::random_id(),
            subs: Vec::new(),
            backlog: VecDeque::new(),
            streams: HashMap::new(),
            last_heartbeat: Instant::now() - HEARTBEAT_EVERY,
            last_ack: Instant::now(),
            acks_dirty: false,
            stalled_since: None,
            paused: false,
            packed: None,
            durable: None,
        }
    }

    /// Also offers every received record to a durable sink (JetStream). With
    /// `zmq_out = false` (`-p none`) the sink is the only way out: records are settled
    /// (acknowledged to the worker) once the sink took them, and counted as forwarded
    /// only when the sink's engine acknowledged them.
    pub fn with_durable(mut self, out: crate::durable::DurableOut) -> Self {
        self.durable = Some(out);
        self
    }

    /// `-p none`: nothing goes out over ZeroMQ.
    fn durable_only(&self) -> bool {
        self.durable.as_ref().is_some_and(|d| !d.zmq_out)
    }

    /// `-p none`: the engine's acknowledgements are the forwarded records.
    fn sync_durable(&mut self) {
        if !self.durable_only() {
            return;
        }
        if let Some(d) = self.durable.as_mut() {
            let n = d.newly_acked();
            if n > 0 {
                let s = self.acct.snapshot();
                self.acct.forwarded.fetch_add(n.min(s.backlog), SeqCst);
            }
        }
    }

    /// Also offers every received record on a packed stream.
    pub fn with_packed(mut self, sock: zmq::Socket, compression: Compression) -> zmq::Result<Self> {
        self.packed = Some(PackedOut::new(sock, compression, self.instance)?);
        Ok(self)
    }

    fn backlog_full(&self) -> bool {
        self.backlog.len() >= self.limits.backlog_records
            || self.acct.backlog_bytes.load(Relaxed) as usize >= self.limits.backlog_bytes
    }

    /// Runs until TERMINATE or DRAIN (then drains); returns the final counts.
    pub fn run(&mut self) -> zmq::Result<()> {
        zmq_util::set_xpub_nodrop(&mut self.backend)?;
        let exit = self.serve()?;
        if let Exit::Drain(t) = exit {
            self.drain(Instant::now() + t)?;
        }
        self.finish(matches!(exit, Exit::Drain(_)))
    }

    fn serve(&mut self) -> zmq::Result<Exit> {
        loop {
            self.sync_durable();
            self.heartbeat_if_due(AdaptorState::Running, ACK_LATEST)?;
            if let Some(p) = self.packed.as_mut() {
                p.read_subscriptions();
            }
            let packed_live = self.packed.as_ref().is_some_and(|p| p.live());
            let can_forward =
                !self.paused && (!self.subs.is_empty() || packed_live) && !self.backlog.is_empty();
            let want_front = !self.paused && !self.backlog_full();
            // An XPUB always polls writable, also while NODROP refuses a full
            // consumer's pipe, and libzmq signals no "room again": when stalled, look
            // at the other sockets without waiting, then retry after STALL_RETRY
            // (a consumer that keeps up frees its pipe within that; spinning would
            // burn a core for as long as one lags).
            let stalled = can_forward && self.stalled_since.is_some();
            let mut items = [
                self.control.as_poll_item(zmq::POLLIN),
                self.backend.as_poll_item(if can_forward && !stalled {
                    zmq::POLLIN | zmq::POLLOUT
                } else {
                    zmq::POLLIN
                }),
                self.frontend.as_poll_item(if want_front {
                    zmq::POLLIN
                } else {
                    zmq::PollEvents::empty()
                }),
            ];
            let timeout = if stalled {
                0
            } else if can_forward {
                1
            } else {
                self.poll_timeout()
            };
            if zmq::poll(&mut items, timeout)? == 0 && stalled {
                std::thread::sleep(STALL_RETRY);
            }
            let ready = items.map(|i| i.is_readable());
            if ready[0] {
                if let Some(exit) = self.command()? {
                    return Ok(exit);
                }
            }
            if ready[1] {
                self.read_subscriptions()?;
            }
            if ready[2] {
                self.read_frontend()?;
            }
            if !self.paused {
                self.forward()?;
            }
            if let Some(p) = self.packed.as_mut() {
                p.flush(&self.acct)?;
            }
            // Acknowledge what this round forwarded now, in the same wake-up (libzmq's
            // I/O thread sends the records and the acknowledgement together), rather
            // than on a timer of its own.
            self.heartbeat_if_due(AdaptorState::Running, ACK_EVERY)?;
        }
    }

    fn poll_timeout(&self) -> i64 {
        let hb = HEARTBEAT_EVERY.saturating_sub(self.last_heartbeat.elapsed());
        let t = if self.acks_dirty {
            hb.min(ACK_LATEST.saturating_sub(self.last_ack.elapsed()))
        } else {
            hb
        };
        (t.as_millis() as i64).max(1)
    }

    fn command(&mut self) -> zmq::Result<Option<Exit>> {
        let cmd = match self.control.recv_bytes(zmq::DONTWAIT) {
            Ok(c) => c,
            Err(zmq::Error::EAGAIN) => return Ok(None),
            Err(e) => return Err(e),
        };
        match cmd.as_slice() {
            b"PAUSE" => self.paused = true,
            b"RESUME" => self.paused = false,
            b"TERMINATE" => return Ok(Some(Exit::Now)),
            b"STATISTICS" => self.reply_stats()?,
            c if c.starts_with(b"DRAIN ") => {
                let ms = std::str::from_utf8(&c[6..])
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                return Ok(Some(Exit::Drain(Duration::from_millis(ms))));
            }
            _ => {}
        }
        Ok(None)
    }

    fn reply_stats(&self) -> zmq::Result<()> {
        let a = &self.acct;
        let v = [
            a.msgs_in.load(Relaxed),
            a.bytes_in.load(Relaxed),
            0,
            0,
            a.subs_in.load(Relaxed),
            0,
            a.msgs_out.load(Relaxed),
            a.bytes_out.load(Relaxed),
        ];
        for (i, x) in v.iter().enumerate() {
            let flags = if i + 1 < v.len() { zmq::SNDMORE } else { 0 };
            self.control.send(&x.to_ne_bytes()[..], flags)?;
        }
        Ok(())
    }

    /// Tracks the set of live subscription prefixes.
    fn read_subscriptions(&mut self) -> zmq::Result<()> {
        loop {
            let msg = match self.backend.recv_bytes(zmq::DONTWAIT) {
                Ok(m) => m,
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => return Err(e),
            };
            self.acct.subs_in.fetch_add(1, Relaxed);
            if let Some(f) = self.capture.as_mut() {
                f(Captured::Subscription, &msg, false);
            }
            match msg.split_first() {
                Some((1, p)) if !self.subs.iter().any(|s| s == p) => {
                    self.subs.push(p.to_vec());
                }
                Some((0, p)) => self.subs.retain(|s| s != p),
                _ => {}
            }
        }
        self.acct
            .subscriptions
            .store(self.subs.len() as u64, Relaxed);
        Ok(())
    }

    /// Reads whole messages from publishers while the backlog has room.
    fn read_frontend(&mut self) -> zmq::Result<()> {
        // Whether a packed consumer takes these records is decided as they arrive:
        // see its subscriptions as libzmq has them now.
        if let Some(p) = self.packed.as_mut() {
            p.read_subscriptions();
        }
        for _ in 0..BURST {
            if self.backlog_full() {
                break;
            }
            let mut first = zmq::Message::new();
            match self.frontend.recv(&mut first, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => return Err(e),
            }
            if !first.get_more() {
                // One frame: a plain record (internal messages have two frames).
                let bytes = first.len();
                self.acct.msgs_in.fetch_add(1, Relaxed);
                self.acct.bytes_in.fetch_add(bytes as u64, Relaxed);
                match wire::kind_of(&first) {
                    None => self.accept_legacy(Payload::Single(first), bytes)?,
                    Some(_) => self.acct.count_drop(DropReason::Malformed, 1),
                }
                continue;
            }
            let mut parts = vec![first];
            while parts.last().is_some_and(|m| m.get_more()) {
                let mut m = zmq::Message::new();
                self.frontend.recv(&mut m, 0)?;
                parts.push(m);
            }
            let bytes: usize = parts.iter().map(|m| m.len()).sum();
            self.acct.msgs_in.fetch_add(1, Relaxed);
            self.acct.bytes_in.fetch_add(bytes as u64, Relaxed);
            match wire::kind_of(&parts[0]) {
                None => self.accept_legacy(Payload::Legacy(parts), bytes)?,
                Some(kind) if parts.len() == 2 => {
                    let Some(body) = parts.pop() else { continue };
                    self.accept_internal(kind, body)?;
                }
                Some(_) => self.acct.count_drop(DropReason::Malformed, 1),
            }
        }
        if let Some(p) = self.packed.as_mut() {
            p.flush_legacy(&self.acct)?;
        }
        Ok(())
    }

    fn accept_legacy(&mut self, payload: Payload, bytes: usize) -> zmq::Result<()> {
        if let Some(d) = self.durable.as_ref() {
            let ok = match &payload {
                Payload::Single(r) => d.offer_plain(b"", r),
                Payload::Legacy(parts) => match parts.as_slice() {
                    [r] => d.offer_plain(b"", r),
                    [t, r, ..] => d.offer_plain(t, r),
                    [] => true,
                },
                Payload::Packed { .. } => true,
            };
            if !d.zmq_out {
                self.acct.received.fetch_add(1, SeqCst);
                if !ok {
                    self.acct.count_drop(DropReason::SpoolFull, 1);
                }
                return Ok(());
            }
        }
        self.acct.received.fetch_add(1, SeqCst);
        self.acct.backlog_bytes.fetch_add(bytes as u64, Relaxed);
        let packed = self.packed.as_ref().is_some_and(|p| p.live());
        let held = Held {
            origin: None,
            payload,
            bytes,
            packed,
        };
        if packed {
            if let Some(p) = self.packed.as_mut() {
                let (topic, record) = held.topic_record();
                p.add_legacy(topic, record, &self.acct)?;
            }
        }
        self.backlog.push_back(held);
        Ok(())
    }

    fn accept_internal(&mut self, kind: Kind, body: zmq::Message) -> zmq::Result<()> {
        match kind {
            Kind::Batch => self.accept_batch(body),
            Kind::Heartbeat => {
                self.acct.count_drop(DropReason::Malformed, 1);
                Ok(())
            }
            _ => {
                match wire::decode_control(kind, &body) {
                    Ok(wire::Control::Probe(s)) => {
                        self.touch(s, 0);
                        // Answer at once: the worker waits for a heartbeat to send.
                        self.last_heartbeat = Instant::now() - HEARTBEAT_EVERY;
                    }
                    Ok(wire::Control::Fin(s, _)) => self.touch(s, 0).fin = true,
                    Ok(wire::Control::Report(s, r)) => {
                        self.touch(s, 0).gone = r.last;
                        self.acct.report(s, r);
                    }
                    Err(_) => self.acct.count_drop(DropReason::Malformed, 1),
                }
                Ok(())
            }
        }
    }

    fn touch(&mut self, s: Stream, acked: u64) -> &mut StreamState {
        let st = self
            .streams
            .entry(s)
            .or_insert_with(|| StreamState::new(acked));
        st.last_seen = Instant::now();
        st
    }

    fn accept_batch(&mut self, body: zmq::Message) -> zmq::Result<()> {
        let (h, recs) = match wire::decode_batch(&body) {
            Ok(x) => x,
            Err(_) => {
                self.acct.count_drop(DropReason::Malformed, 1);
                return Ok(());
            }
        };
        let packed_live = self.packed.as_ref().is_some_and(|p| p.live());
        let base = body.as_ptr() as usize;
        // Offsets of each record inside the frame, so the frame is kept, not copied.
        let offs: Vec<((usize, usize), (usize, usize))> = recs
            .iter()
            .map(|r| {
                (
                    (r.topic.as_ptr() as usize - base, r.topic.len()),
                    (r.record.as_ptr() as usize - base, r.record.len()),
                )
            })
            .collect();
        drop(recs);
        let batch = Arc::new(body);
        let st = self.touch(h.stream, h.acked);
        st.settle_below(h.acked);
        let (mut fresh, mut dups, mut bytes) = (0u64, 0u64, 0usize);
        let mut held = Vec::with_capacity(offs.len());
        for (i, (t, b)) in offs.into_iter().enumerate() {
            let seq = h.first_seq + i as u64;
            if st.contains(seq) {
                dups += 1;
                continue;
            }
            st.hold(seq);
            fresh += 1;
            bytes += t.1 + b.1;
            held.push(Held {
                origin: Some((h.stream, seq)),
                payload: Payload::Packed {
                    batch: batch.clone(),
                    topic: t,
                    body: b,
                },
                bytes: t.1 + b.1,
                packed: packed_live,
            });
        }
        if h.count > 0 {
            st.insert(h.first_seq, h.last_seq());
        }
        // Records that arrive while no packed consumer is subscribed are published
        // on the packed stream later, if one subscribes while they are held.
        if let Some(p) = self.packed.as_mut().filter(|_| packed_live) {
            if dups == 0 && fresh > 0 {
                p.send(&batch, fresh, &self.acct)?;
            } else if fresh > 0 {
                // Re-pack only the records not seen before, one batch per run of
                // consecutive sequence numbers.
                for hd in &held {
                    let (topic, record) = hd.topic_record();
                    p.add_record(hd.origin, h.acked, topic, record, &self.acct)?;
                }
                p.flush_records(&self.acct)?;
            }
        }
        if dups > 0 {
            self.acct.duplicates.fetch_add(dups, Relaxed);
            // Already forwarded earlier: the worker needs the acknowledgement again.
            self.acks_dirty = true;
        }
        self.acct.received.fetch_add(fresh, SeqCst);
        self.acct.backlog_bytes.fetch_add(bytes as u64, Relaxed);
        if let Some(d) = self.durable.as_ref() {
            let mut refused = 0;
            for hd in &held {
                if let (Some((s, seq)), Payload::Packed { batch, topic, body }) =
                    (hd.origin, &hd.payload)
                {
                    let t = &batch[topic.0..topic.0 + topic.1];
                    let b = &batch[body.0..body.0 + body.1];
                    refused += !d.offer_worker(s.pid, s.boot, seq, t, b) as u64;
                }
            }
            if !d.zmq_out {
                // The sink is the only way out: taken (or refused) is settled.
                if refused > 0 {
                    self.acct.count_drop(DropReason::SpoolFull, refused);
                }
                for hd in &held {
                    self.settle(hd);
                }
                return Ok(());
            }
        }
        self.backlog.extend(held);
        Ok(())
    }

    /// Sends one record's frames; Ok(false) when the backend refused the first frame.
    fn send_record(&mut self, h: &Held) -> zmq::Result<bool> {
        let n = h.frame_count();
        for i in 0..n {
            let f = h.frame(i);
            let more = i + 1 < n;
            if let Some(cap) = self.capture.as_mut() {
                cap(Captured::Message, f, more);
            }
            let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
            match self.backend.send(f, flags) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if i == 0 => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.acct.msgs_out.fetch_add(1, Relaxed);
        self.acct.bytes_out.fetch_add(h.bytes as u64, Relaxed);
        Ok(true)
    }

    /// Forwards from the backlog while consumers are subscribed. The publish socket
    /// never drops (`ZMQ_XPUB_NODROP`): when a consumer's queue is full, forwarding
    /// waits — the backlog holds the records, then the workers' windows and queues —
    /// and the time spent waiting is counted (`zmq_adaptor_publish_stall_seconds_total`).
    fn forward(&mut self) -> zmq::Result<bool> {
        let mut progressed = false;
        for _ in 0..BURST {
            let Some(front) = self.backlog.front() else {
                break;
            };
            if self.subs.is_empty() && !front.packed {
                // Held for a consumer since before any packed consumer subscribed:
                // one that subscribed since takes it now.
                if !self.packed.as_ref().is_some_and(|p| p.live()) {
                    break;
                }
                let Some(h) = self.backlog.pop_front() else {
                    break;
                };
                let acked = h
                    .origin
                    .and_then(|(s, _)| self.streams.get(&s))
                    .map_or(0, |st| st.acked_sent);
                let (topic, record) = h.topic_record();
                if let Some(p) = self.packed.as_mut() {
                    p.add_record(h.origin, acked, topic, record, &self.acct)?;
                }
                self.settle(&h);
                self.acct.forwarded.fetch_add(1, SeqCst);
                progressed = true;
                continue;
            }
            let Some(h) = self.backlog.pop_front() else {
                break;
            };
            let first = h.first_frame();
            let matched = self.subs.iter().any(|p| first.starts_with(p));
            if !matched {
                self.settle(&h);
                if h.packed {
                    // Its consumers took it from the packed stream.
                    self.acct.forwarded.fetch_add(1, SeqCst);
                } else {
                    self.acct.count_drop(DropReason::NoSubscriber, 1);
                }
                progressed = true;
                continue;
            }
            if self.send_record(&h)? {
                if let Some(t) = self.stalled_since.take() {
                    self.acct
                        .stall_us
                        .fetch_add(t.elapsed().as_micros() as u64, Relaxed);
                }
                self.settle(&h);
                self.acct.forwarded.fetch_add(1, SeqCst);
                progressed = true;
                continue;
            }
            self.stalled_since.get_or_insert_with(Instant::now);
            self.backlog.push_front(h);
            break;
        }
        if let Some(p) = self.packed.as_mut() {
            p.flush_records(&self.acct)?;
        }
        Ok(progressed)
    }

    /// A record left the backlog (forwarded or dropped).
    fn settle(&mut self, h: &Held) {
        self.acct.backlog_bytes.fetch_sub(h.bytes as u64, Relaxed);
        if let Some((s, _)) = h.origin {
            if let Some(st) = self.streams.get_mut(&s) {
                st.release();
                self.acks_dirty = true;
            }
        }
    }

    /// Per stream: the highest seq up to which everything was received and settled.
    fn acks(&self, all: bool) -> Vec<(Stream, u64)> {
        self.streams
            .iter()
            .filter(|(_, st)| {
                all && st.last_seen.elapsed() < STREAM_IDLE || st.acked_sent < st.floor()
            })
            .map(|(s, st)| {
                let mut a = st.floor();
                if let Some(low) = st.lowest_held() {
                    a = a.min(low.saturating_sub(1));
                }
                (*s, a)
            })
            .collect()
    }

    fn send_heartbeat(&mut self, state: AdaptorState, all: bool) -> zmq::Result<()> {
        let acks = self.acks(all || state != AdaptorState::Running);
        for (s, a) in &acks {
            if let Some(st) = self.streams.get_mut(s) {
                st.acked_sent = st.acked_sent.max(*a);
            }
        }
        let hb = wire::Heartbeat {
            instance: self.instance,
            max_message: self.limits.max_message.min(u32::MAX as usize) as u32,
            state,
            acks,
        };
        match self
            .frontend
            .send(wire::encode_heartbeat(&hb), zmq::DONTWAIT)
        {
            Ok(()) | Err(zmq::Error::EAGAIN) => {}
            Err(e) => return Err(e),
        }
        self.last_ack = Instant::now();
        self.acks_dirty = false;
        if all {
            self.last_heartbeat = Instant::now();
        }
        Ok(())
    }

    /// Sends the full heartbeat when due, else pending acknowledgements when the last
    /// ones are at least `ack_gap` old.
    fn heartbeat_if_due(&mut self, state: AdaptorState, ack_gap: Duration) -> zmq::Result<()> {
        if self.last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
            self.send_heartbeat(state, true)
        } else if self.acks_dirty && self.last_ack.elapsed() >= ack_gap {
            self.send_heartbeat(state, false)
        } else {
            Ok(())
        }
    }

    /// Graceful stop: tell workers, read their last batches, forward until `deadline`.
    fn drain(&mut self, deadline: Instant) -> zmq::Result<()> {
        // Plain publishers stop too: they send only while subscribed.
        let _ = self.frontend.send(&[0u8][..], zmq::DONTWAIT);
        self.send_heartbeat(AdaptorState::Stopping, true)?;
        let fin_deadline = (Instant::now() + FIN_WAIT).min(deadline);
        let started = Instant::now();
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let fins_pending = self.streams.values().any(|s| {
                !s.fin
                    && !s.gone
                    && s.last_seen.elapsed() < Duration::from_secs(2)
                    && s.last_seen >= started - Duration::from_secs(2)
            });
            let waiting_fins = fins_pending && now < fin_deadline;
            if !waiting_fins && (self.backlog.is_empty() || self.subs.is_empty()) {
                break;
            }
            if self.last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
                self.send_heartbeat(AdaptorState::Stopping, true)?;
            }
            let mut items = [
                self.backend.as_poll_item(zmq::POLLIN | zmq::POLLOUT),
                self.frontend.as_poll_item(zmq::POLLIN),
            ];
            zmq::poll(&mut items, 5)?;
            let ready = items.map(|i| i.is_readable());
            if ready[0] {
                self.read_subscriptions()?;
            }
            if ready[1] {
                self.read_frontend()?;
            }
            self.forward()?;
        }
        Ok(())
    }

    /// Final acknowledgements and the count of what was left.
    fn finish(&mut self, graceful: bool) -> zmq::Result<()> {
        let (mut legacy, mut returned) = (0u64, 0u64);
        let left: Vec<Held> = self.backlog.drain(..).collect();
        for h in &left {
            self.acct.backlog_bytes.fetch_sub(h.bytes as u64, Relaxed);
            match h.origin {
                None => legacy += 1,
                Some(_) => returned += 1,
            }
        }
        // Workers' records left here were never acknowledged: they remain the
        // workers', which send them to the next adaptor. Take them out of this
        // adaptor's received count so its books balance.
        self.acct.count_drop(DropReason::DrainTimeout, legacy);
        self.acct.received.fetch_sub(returned, SeqCst);
        self.acct.returned.fetch_add(returned, Relaxed);
        // Acknowledgements must not cover records that were returned.
        for h in &left {
            if let Some((s, seq)) = h.origin {
                if let Some(st) = self.streams.get_mut(&s) {
                    st.received.retain(|r| r.0 <= seq);
                    if let Some(r) = st.received.last_mut() {
                        if r.1 >= seq {
                            r.1 = seq - 1;
                        }
                    }
                    st.held = 0;
                    st.held_runs.clear();
                }
            }
        }
        if graceful {
            self.send_heartbeat(AdaptorState::Gone, true)?;
        }
        Ok(())
    }
}

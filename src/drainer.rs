//! The drainer thread: packs queued records into numbered batches ([`crate::wire`])
//! and hands them to an XPUB socket connected to the adaptor, but only while a live
//! adaptor is known (its heartbeats arrive). Every batch stays in a bounded window
//! until the adaptor acknowledges it; a batch the adaptor did not acknowledge is sent
//! again, in order, to the next adaptor instance, which discards what it already has.
//! A record thus leaves this process's accounting only when the adaptor confirmed it.

use crate::log::{self, Level};
use crate::queue::{Record, RecordQueue};
use crate::stats::zmq_adaptor_stats;
use crate::wire::{self, AdaptorState, BatchWriter, Kind, Stream};
use crate::zmq_util;
use crate::Config;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Most batches sent and not yet acknowledged.
const WINDOW_BATCHES: usize = 64;
/// Most record bytes sent and not yet acknowledged.
const WINDOW_BYTES: usize = 16 << 20;
/// Largest batch body the drainer builds (a single larger record gets its own batch).
const BATCH_BYTES: usize = 1 << 20;
/// Most records in one batch.
const BATCH_RECORDS: u32 = 8192;
/// An adaptor not heard from for this long is taken as gone.
const ADAPTOR_TIMEOUT: Duration = Duration::from_millis(1000);
/// Wait before retrying when libzmq refuses a send (its pipe is full).
const RETRY_WAIT: Duration = Duration::from_millis(1);
/// How often the worker's counters are reported to the adaptor.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Granularity of the drainer's wait (`zmq_poll` takes milliseconds): a batch due
/// within this much is sent now rather than after one more wait, so no record waits
/// longer than `batch_interval` for its batch.
const WAIT_GRAIN: Duration = Duration::from_millis(1);
/// How long closing may wait to write the last report.
const CLOSE_LINGER_MS: i32 = 200;
/// Longest sleep while the drainer does not wait on its socket: heartbeats and
/// acknowledgements are read at least this often (see `Drainer::wait`).
const UPSTREAM_EVERY: Duration = Duration::from_millis(100);

/// A wake-up line from producers (and `flush`/shutdown) to the drainer: an eventfd
/// that the drainer polls together with its socket.
pub(crate) struct Waker {
    fd: i32,
}

impl Waker {
    pub(crate) fn new() -> std::io::Result<Waker> {
        // SAFETY: eventfd has no memory preconditions; the flags are valid.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Waker { fd })
    }
    /// Wakes the drainer (one non-blocking write).
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd; a full counter
        // (EAGAIN) already means "awake".
        unsafe { libc::write(self.fd, &one as *const u64 as *const libc::c_void, 8) };
    }
    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        unsafe { libc::read(self.fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
    }
}

/// Drainer progress and the signalling between the drainer, `flush` and shutdown.
#[derive(Default)]
pub struct DrainerState {
    /// Records handed to libzmq for the first time.
    sent: AtomicU64,
    /// Records the adaptor acknowledged.
    delivered: AtomicU64,
    /// Accepted records given up because they exceed the adaptor's message limit.
    oversize: AtomicU64,
    /// Records sent and not yet acknowledged.
    in_flight: AtomicU64,
    /// Times libzmq refused a send (pipe full); the batch was kept and retried.
    retries: AtomicU64,
    /// libzmq errors (connect/send).
    errors: AtomicU64,
    /// Whether a live adaptor is known.
    live: AtomicBool,
    /// Accepted records not delivered when the logger stopped (set at stop).
    undelivered: AtomicU64,
    /// Send what is queued now, without waiting for the batch interval.
    urgent: AtomicBool,
    /// Callers waiting in `flush` (the drainer then wakes for each acknowledgement).
    waiters: AtomicU64,
    /// Shutdown request, with its deadline.
    stop: Mutex<Option<Instant>>,
    /// When the host's shutdown (seen through the watch) must be over.
    host_deadline: Mutex<Option<Instant>>,
    /// Set when the drainer closed its socket and context.
    stopped: Mutex<bool>,
    /// Wakes `flush` and shutdown waiters after each acknowledgement and at stop.
    progress: Condvar,
    /// Guard for `progress` waits.
    progress_lock: Mutex<()>,
}

impl DrainerState {
    pub(crate) fn stats(&self) -> zmq_adaptor_stats {
        zmq_adaptor_stats {
            sent: self.sent.load(Relaxed),
            send_retries: self.retries.load(Relaxed),
            zmq_errors: self.errors.load(Relaxed),
            peer_subscribed: self.live.load(Relaxed) as u64,
            delivered: self.delivered.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            undelivered: self.undelivered.load(Relaxed) + self.oversize.load(Relaxed),
            ..Default::default()
        }
    }

    /// Records settled so far: acknowledged by the adaptor or given up as oversize.
    pub(crate) fn settled(&self) -> u64 {
        self.delivered.load(SeqCst) + self.oversize.load(SeqCst)
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(SeqCst)
    }

    pub(crate) fn set_undelivered(&self, n: u64) {
        self.undelivered.store(n, SeqCst);
    }

    pub(crate) fn make_urgent(&self) {
        self.urgent.store(true, SeqCst);
    }

    /// Counts a caller waiting for acknowledgements until the guard is dropped.
    pub(crate) fn waiting(&self) -> WaitGuard<'_> {
        self.waiters.fetch_add(1, SeqCst);
        WaitGuard(self)
    }

    /// Blocks until `done()` holds or `deadline` passes; returns `done()`. Woken by
    /// the drainer after each acknowledgement and at stop; sleeps in slices of at most
    /// 5 ms so a missed wake-up costs little.
    fn wait_until(&self, done: impl Fn() -> bool, deadline: Instant) -> bool {
        let mut g = self.progress_lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if done() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return done();
            }
            let slice = (deadline - now).min(Duration::from_millis(5));
            g = self
                .progress
                .wait_timeout(g, slice)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until `settled() >= target`, the drainer stopped, or `deadline`; true
    /// when `target` was reached.
    pub(crate) fn wait_settled(&self, target: u64, deadline: Instant) -> bool {
        let reached = || self.settled() >= target;
        self.wait_until(|| reached() || self.is_stopped(), deadline);
        reached()
    }

    pub(crate) fn request_stop(&self, deadline: Instant) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
    }

    pub(crate) fn wait_stopped(&self, deadline: Instant) {
        self.wait_until(|| self.is_stopped(), deadline);
    }

    /// The host's shutdown deadline, once its shutdown began.
    pub(crate) fn host_deadline(&self) -> Option<Instant> {
        if let Some(t) = crate::logger::host_shutting_down() {
            let mut g = self.host_deadline.lock().unwrap_or_else(|p| p.into_inner());
            return Some(*g.get_or_insert_with(|| Instant::now() + t));
        }
        *self.host_deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop_deadline(&self) -> Option<Instant> {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        let _g = self.progress_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.progress.notify_all();
    }
}

/// A caller waiting for acknowledgements (see [`DrainerState::waiting`]).
pub(crate) struct WaitGuard<'a>(&'a DrainerState);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, SeqCst);
    }
}

/// What the drainer needs from its logger.
pub(crate) struct Parts<'a> {
    /// Settings.
    pub cfg: &'a Config,
    /// The queue filled by the request path.
    pub queue: &'a RecordQueue,
    /// Shared progress.
    pub state: &'a DrainerState,
    /// Wake-ups from producers.
    pub waker: &'a Waker,
}

/// A batch sent (or to be sent) and not yet acknowledged.
struct Pending {
    /// Seq of its last record.
    last_seq: u64,
    /// Records in it.
    count: u64,
    /// Leading records already acknowledged (an adaptor may acknowledge part of a
    /// batch when it stopped before forwarding the rest).
    settled: u64,
    /// Queue bytes it holds (released when acknowledged).
    charge: usize,
    /// Frame 1 of the message.
    body: Vec<u8>,
}

/// The adaptor instance the drainer talks to.
struct Peer {
    instance: u64,
    max_message: usize,
    last_heard: Instant,
    stopping: bool,
}

/// The drainer's own state, owned by its thread.
struct Drainer<'a> {
    p: Parts<'a>,
    ctx: zmq::Context,
    sock: Option<zmq::Socket>,
    stream: Stream,
    peer: Option<Peer>,
    window: VecDeque<Pending>,
    window_bytes: usize,
    /// Index in `window` of the first batch not yet sent to the current peer.
    unsent: usize,
    next_seq: u64,
    acked: u64,
    last_sent_seq: u64,
    last_batch: Instant,
    last_report: Instant,
    spent: Vec<Record>,
    /// A record taken from the queue that did not fit the last batch.
    carry: Option<Record>,
    /// Buffers of acknowledged batches, reused for the next ones.
    spare: Vec<Vec<u8>>,
    /// The host's shutdown was seen.
    host_exiting: bool,
}

impl<'a> Drainer<'a> {
    fn open(&mut self) {
        let cfg = self.p.cfg;
        let setup = || -> zmq::Result<zmq::Socket> {
            let mut s = self.ctx.socket(zmq::XPUB)?;
            s.set_sndhwm(cfg.send_hwm)?;
            s.set_linger(0)?;
            s.set_reconnect_ivl(100)?;
            s.set_reconnect_ivl_max(500)?;
            zmq_util::set_xpub_nodrop(&mut s)?;
            if let Some(keys) = &cfg.curve {
                crate::security::apply_client(&s, keys).map_err(|_| zmq::Error::EINVAL)?;
            }
            s.connect(&cfg.endpoint)?;
            Ok(s)
        };
        match setup() {
            Ok(s) => self.sock = Some(s),
            Err(e) => {
                self.p.state.errors.fetch_add(1, Relaxed);
                log::emit(
                    Level::Error,
                    &format!(
                        "cannot connect to {}: {e}; records stay queued up to the bound",
                        cfg.endpoint
                    ),
                );
            }
        }
    }

    /// Forgets the adaptor: closes the socket (dropping anything libzmq still held
    /// for it; those batches are in the window) and connects anew.
    fn reconnect(&mut self) {
        self.peer = None;
        self.p.state.live.store(false, Relaxed);
        self.unsent = 0;
        self.sock = None;
        self.open();
    }

    fn send(&self, kind: Kind, body: &[u8]) -> Result<(), zmq::Error> {
        let Some(s) = &self.sock else {
            return Err(zmq::Error::ENOTSOCK);
        };
        s.send(&wire::signature(kind)[..], zmq::DONTWAIT | zmq::SNDMORE)?;
        // The first frame went out: XPUB (NODROP) takes the rest of the message.
        s.send(body, zmq::DONTWAIT)
    }

    fn report(&mut self, last: bool) {
        let q = self.p.queue;
        let r = wire::Report {
            accepted: q.enqueued(),
            refused_queue_full: q.dropped_queue_full(),
            refused_too_large: q.dropped_too_large(),
            undelivered: self.p.state.undelivered.load(Relaxed)
                + self.p.state.oversize.load(Relaxed),
            last,
        };
        let _ = self.send(Kind::Report, &wire::encode_report(self.stream, &r));
        self.last_report = Instant::now();
    }

    /// Reads heartbeats and subscription messages from the adaptor side.
    fn read_upstream(&mut self) {
        loop {
            let Some(s) = &self.sock else { return };
            let msg = match s.recv_bytes(zmq::DONTWAIT) {
                Ok(m) => m,
                Err(_) => return,
            };
            match msg.first() {
                // A peer subscribed: announce ourselves so it answers at once.
                Some(1) => {
                    let _ = self.send(Kind::Probe, &wire::encode_probe(self.stream));
                }
                Some(0) | None => {}
                Some(_) => {
                    if let Ok(h) = wire::decode_heartbeat(&msg, Some(self.stream)) {
                        self.on_heartbeat(h);
                    }
                }
            }
        }
    }

    fn on_heartbeat(&mut self, h: wire::Heartbeat) {
        let same = self.peer.as_ref().map(|p| p.instance) == Some(h.instance);
        if let Some(&(_, acked)) = h.acks.first() {
            // Acknowledgements count from whichever instance sent them: an adaptor
            // acknowledges only what it forwarded.
            self.settle(acked);
        }
        match h.state {
            AdaptorState::Gone => {
                if same {
                    self.peer = None;
                    self.p.state.live.store(false, Relaxed);
                    self.unsent = 0;
                }
            }
            AdaptorState::Running | AdaptorState::Stopping => {
                if !same {
                    // A new adaptor: everything unacknowledged goes to it, in order.
                    self.unsent = 0;
                }
                let stopping = h.state == AdaptorState::Stopping;
                let was_stopping = same && self.peer.as_ref().is_some_and(|p| p.stopping);
                self.peer = Some(Peer {
                    instance: h.instance,
                    max_message: (h.max_message as usize).max(wire::BATCH_HEADER + 64),
                    last_heard: Instant::now(),
                    stopping,
                });
                self.p.state.live.store(!stopping, Relaxed);
                if stopping && !was_stopping {
                    let fin = wire::encode_fin(self.stream, self.sent_to_peer_upto());
                    let _ = self.send(Kind::Fin, &fin);
                }
            }
        }
    }

    /// Highest seq handed to the current peer.
    fn sent_to_peer_upto(&self) -> u64 {
        match self.unsent {
            0 => self.acked,
            n => self.window[n - 1].last_seq,
        }
    }

    /// Releases every record up to `acked`: whole batches leave the window; a batch
    /// acknowledged in part keeps its rest (and is resent whole: the next adaptor
    /// discards what the header's `acked` covers).
    fn settle(&mut self, acked: u64) {
        if acked <= self.acked {
            return;
        }
        self.acked = acked.min(self.next_seq - 1);
        let (mut n, mut bytes) = (0u64, 0usize);
        while let Some(b) = self.window.front_mut() {
            let first = b.last_seq + 1 - b.count;
            if b.last_seq > self.acked {
                if self.acked >= first {
                    let k = self.acked - first + 1;
                    n += k - b.settled;
                    b.settled = k;
                }
                break;
            }
            let b = self.window.pop_front().unwrap_or_else(|| unreachable!());
            n += b.count - b.settled;
            bytes += b.charge;
            self.window_bytes -= b.charge;
            self.unsent = self.unsent.saturating_sub(1);
            if self.spare.len() < 4 {
                self.spare.push(b.body);
            }
        }
        if bytes > 0 {
            self.p.queue.release(bytes);
        }
        if n > 0 {
            self.p.state.in_flight.fetch_sub(n, Relaxed);
            self.p.state.delivered.fetch_add(n, SeqCst);
            self.p.state.notify();
        }
    }

    /// Sends window batches not yet sent to the current peer; false when libzmq
    /// refused one (retry later).
    fn send_unsent(&mut self) -> bool {
        while self.unsent < self.window.len() {
            let mut body = std::mem::take(&mut self.window[self.unsent].body);
            wire::set_batch_acked(&mut body, self.acked);
            let r = self.send(Kind::Batch, &body);
            self.window[self.unsent].body = body;
            match r {
                Ok(()) => {
                    let b = &self.window[self.unsent];
                    if b.last_seq > self.last_sent_seq {
                        let fresh = b.last_seq - self.last_sent_seq.max(b.last_seq - b.count);
                        self.p.state.sent.fetch_add(fresh, Relaxed);
                        self.last_sent_seq = b.last_seq;
                    }
                    self.unsent += 1;
                }
                Err(zmq::Error::EAGAIN) => {
                    self.p.state.retries.fetch_add(1, Relaxed);
                    return false;
                }
                Err(_) => {
                    self.p.state.errors.fetch_add(1, Relaxed);
                    return false;
                }
            }
        }
        true
    }

    /// Packs queued records into one batch appended to the window; false when the
    /// queue had nothing.
    fn build_batch(&mut self) -> bool {
        let max_body = self.peer.as_ref().map_or(BATCH_BYTES, |p| p.max_message);
        let limit = max_body.min(BATCH_BYTES);
        let buf = self.spare.pop().unwrap_or_default();
        let mut w = BatchWriter::new(buf, self.stream, self.next_seq, self.acked);
        let mut charge = 0usize;
        while w.count() < BATCH_RECORDS {
            let rec = match self.carry.take().or_else(|| self.p.queue.pop()) {
                Some(r) => r,
                None => break,
            };
            let topic = rec.topic().unwrap_or(b"");
            let single = wire::BATCH_HEADER + wire::RECORD_HEADER + rec.charge();
            if single > max_body {
                // Larger than the adaptor takes in one message: give it up, counted.
                self.p.queue.release(rec.charge());
                self.p.state.oversize.fetch_add(1, SeqCst);
                self.spent.push(rec);
                continue;
            }
            if !w.is_empty() && w.size_with(topic.len(), rec.body().len()) > limit {
                self.carry = Some(rec);
                break;
            }
            w.push(topic, rec.body());
            charge += rec.charge();
            self.spent.push(rec);
        }
        self.p.queue.recycle(&mut self.spent);
        if w.is_empty() {
            self.spare.push(w.finish());
            return false;
        }
        let count = w.count() as u64;
        self.next_seq += count;
        self.window_bytes += charge;
        self.p.state.in_flight.fetch_add(count, Relaxed);
        self.window.push_back(Pending {
            last_seq: self.next_seq - 1,
            count,
            settled: 0,
            charge,
            body: w.finish(),
        });
        true
    }

    fn queue_has_records(&self) -> bool {
        self.carry.is_some() || self.p.queue.depth() > 0
    }

    fn can_send(&self) -> bool {
        self.sock.is_some() && self.peer.as_ref().is_some_and(|p| !p.stopping)
    }

    /// One round of work; returns how long the drainer may sleep.
    fn round(&mut self) -> Duration {
        if !self.host_exiting && self.p.state.host_deadline().is_some() {
            // The host began its shutdown: send what is queued without waiting.
            self.host_exiting = true;
            self.p.state.make_urgent();
        }
        let interval = self.p.cfg.batch_interval;
        self.read_upstream();
        if self
            .peer
            .as_ref()
            .is_some_and(|p| p.last_heard.elapsed() > ADAPTOR_TIMEOUT)
        {
            self.reconnect();
        }
        if !self.can_send() {
            return interval;
        }
        if !self.send_unsent() {
            return RETRY_WAIT;
        }
        let flushing = self.p.state.urgent.swap(false, SeqCst);
        let urgent = flushing || self.p.state.stop_deadline().is_some();
        let due = urgent
            || self.last_batch.elapsed() + WAIT_GRAIN >= interval
            || self.p.queue.depth() >= self.p.cfg.batch_records;
        if due {
            while self.window.len() < WINDOW_BATCHES && self.window_bytes < WINDOW_BYTES {
                if !self.build_batch() {
                    break;
                }
                if !self.send_unsent() {
                    return RETRY_WAIT;
                }
            }
            self.last_batch = Instant::now();
        }
        if flushing && !self.window.is_empty() {
            // Someone waits for these: ask the adaptor for its acknowledgement now
            // (it answers a probe with a heartbeat at once) rather than on its timer.
            let _ = self.send(Kind::Probe, &wire::encode_probe(self.stream));
        }
        if self.last_report.elapsed() >= REPORT_EVERY {
            self.report(false);
        }
        if self.queue_has_records() && self.window.len() >= WINDOW_BATCHES {
            // Window full: acknowledgements (socket readable) wake us.
            return interval;
        }
        interval
            .saturating_sub(self.last_batch.elapsed())
            .max(Duration::from_micros(50))
    }

    /// Whether the drainer must wake as soon as the adaptor writes: while it looks
    /// for an adaptor, while someone waits for acknowledgements (`flush`, stop, the
    /// host's shutdown) and while a full window holds sending back. Otherwise it reads
    /// heartbeats and acknowledgements when it wakes for its batches (at least every
    /// `UPSTREAM_EVERY`): the adaptor's messages reach every worker, and waking each
    /// worker's drainer for each of them would cost more than the batches.
    fn needs_upstream(&self) -> bool {
        self.peer.is_none()
            || self.host_exiting
            || self.p.state.waiters.load(SeqCst) > 0
            || self.p.state.stop_deadline().is_some()
            || self.window.len() >= WINDOW_BATCHES
            || self.window_bytes >= WINDOW_BYTES
    }

    fn wait(&self, timeout: Duration) {
        let upstream = self.needs_upstream();
        let timeout = if upstream {
            timeout
        } else {
            timeout.min(UPSTREAM_EVERY)
        };
        let ms = timeout.as_millis().clamp(1, 1000) as i64;
        let mut items = Vec::with_capacity(2);
        items.push(zmq::PollItem::from_fd(self.p.waker.fd, zmq::POLLIN));
        if let Some(s) = self.sock.as_ref().filter(|_| upstream) {
            items.push(s.as_poll_item(zmq::POLLIN));
        }
        let _ = zmq::poll(&mut items, ms);
        if items[0].is_readable() {
            self.p.waker.clear();
        }
    }
}

/// The drainer thread body. Owns the process's ZeroMQ context and socket.
pub(crate) fn run(p: Parts<'_>) {
    let now = Instant::now();
    let mut d = Drainer {
        stream: Stream {
            pid: std::process::id(),
            boot: wire::random_id(),
        },
        ctx: zmq::Context::new(),
        sock: None,
        p,
        peer: None,
        window: VecDeque::new(),
        window_bytes: 0,
        unsent: 0,
        next_seq: 1,
        acked: 0,
        last_sent_seq: 0,
        last_batch: now,
        last_report: now,
        spent: Vec::with_capacity(BATCH_RECORDS as usize),
        carry: None,
        spare: Vec::new(),
        host_exiting: false,
    };
    d.open();
    loop {
        let sleep = d.round();
        if let Some(deadline) = d.p.state.stop_deadline() {
            let settled = d.window.is_empty() && !d.queue_has_records();
            if settled || Instant::now() >= deadline {
                break;
            }
        }
        d.wait(sleep);
    }
    // What was accepted and not settled now is undeliverable: count it exactly.
    let st = d.p.state;
    let undelivered = d.p.queue.enqueued().saturating_sub(st.settled());
    st.set_undelivered(undelivered);
    d.report(true);
    if let Some(s) = d.sock.take() {
        let _ = s.set_linger(CLOSE_LINGER_MS);
        drop(s);
    }
    drop(d.ctx);
    *st.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
    st.notify();
}

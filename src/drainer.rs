//! The drainer thread: takes queued records in batches and hands them to an XPUB
//! socket connected to the adaptor. XPUB (not PUB) so it sees the adaptor's
//! subscription: nothing is sent before a subscriber exists, and `ZMQ_XPUB_NODROP`
//! turns a full pipe into EAGAIN, so records wait in our queue instead of vanishing.

use crate::logger::Logger;
use crate::queue::Record;
use crate::stats::zmq_adaptor_stats;
use crate::zmq_util;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Most records sent in one go before the drainer checks subscriptions and stop requests.
const MAX_BATCH: usize = 8192;
/// Wait before retrying a record libzmq refused at its high-water mark.
const RETRY_WAIT: Duration = Duration::from_millis(1);
/// Pause between the last send and closing the socket at shutdown (within the linger).
const CLOSE_SETTLE: Duration = Duration::from_millis(100);

/// Drainer progress and the signalling between the drainer, `flush` and shutdown.
#[derive(Default)]
pub struct DrainerState {
    /// Records handed to libzmq.
    sent: AtomicU64,
    /// EAGAIN at the high-water mark (record kept and retried).
    retries: AtomicU64,
    /// libzmq errors (connect/send).
    errors: AtomicU64,
    /// Whether the adaptor's subscription is known.
    subscribed: AtomicBool,
    /// 1 while a record is held by the drainer for retry (counted as queued).
    held: AtomicU64,
    /// Shutdown request, with its deadline.
    stop: Mutex<Option<Instant>>,
    /// Set when the drainer closed its socket and context.
    stopped: Mutex<bool>,
    /// Wakes `flush` and shutdown waiters after each batch and at stop.
    progress: Condvar,
    /// Guard for `progress` waits on `sent`.
    progress_lock: Mutex<()>,
}

impl DrainerState {
    pub(crate) fn stats(&self) -> zmq_adaptor_stats {
        zmq_adaptor_stats {
            sent: self.sent.load(Relaxed),
            send_retries: self.retries.load(Relaxed),
            zmq_errors: self.errors.load(Relaxed),
            peer_subscribed: self.subscribed.load(Relaxed) as u64,
            ..Default::default()
        }
    }

    pub(crate) fn held(&self) -> u64 {
        self.held.load(Relaxed)
    }

    /// Blocks until `done()` holds or `deadline` passes; returns `done()`. Woken by
    /// the drainer after each batch and at stop; sleeps in slices of at most 5 ms so
    /// a missed wake-up costs little.
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

    /// Blocks until `sent >= target`, the drainer stopped, or `deadline`; true when
    /// `target` was reached.
    pub(crate) fn wait_sent(&self, target: u64, deadline: Instant) -> bool {
        let reached = || self.sent.load(SeqCst) >= target;
        self.wait_until(|| reached() || self.is_stopped(), deadline);
        reached()
    }

    pub(crate) fn request_stop(&self, deadline: Instant) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
    }

    pub(crate) fn wait_stopped(&self, deadline: Instant) {
        self.wait_until(|| self.is_stopped(), deadline);
    }

    fn stop_deadline(&self) -> Option<Instant> {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        let _g = self.progress_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.progress.notify_all();
    }
}

/// A record taken from the queue that libzmq has not fully accepted yet.
struct Held {
    /// The record.
    rec: Record,
    /// Its topic frame already went out (multipart in progress): send only the body.
    topic_sent: bool,
}

enum SendOutcome {
    Sent,
    Again,
    Failed,
}

fn send_one(sock: &zmq::Socket, h: &mut Held) -> SendOutcome {
    if let (Some(topic), false) = (h.rec.topic(), h.topic_sent) {
        match sock.send(topic, zmq::DONTWAIT | zmq::SNDMORE) {
            Ok(()) => h.topic_sent = true,
            Err(zmq::Error::EAGAIN) => return SendOutcome::Again,
            Err(_) => return SendOutcome::Failed,
        }
    }
    match sock.send(h.rec.body(), zmq::DONTWAIT) {
        Ok(()) => SendOutcome::Sent,
        Err(zmq::Error::EAGAIN) => SendOutcome::Again,
        Err(_) => SendOutcome::Failed,
    }
}

/// Counts subscription messages seen on the XPUB socket; `true` while any is live.
fn read_subscriptions(sock: &zmq::Socket, subs: &mut i64) {
    let mut buf = [0u8; 256];
    while let Ok(n) = sock.recv_into(&mut buf, zmq::DONTWAIT) {
        match (n, buf[0]) {
            (0, _) => {}
            (_, 1) => *subs += 1,
            (_, 0) => *subs -= 1,
            _ => {}
        }
    }
}

fn open_socket(ctx: &zmq::Context, logger: &Logger) -> Option<zmq::Socket> {
    let cfg = logger.config();
    let setup = || -> zmq::Result<zmq::Socket> {
        let mut s = ctx.socket(zmq::XPUB)?;
        s.set_sndhwm(cfg.send_hwm)?;
        s.set_linger(cfg.linger.as_millis() as i32)?;
        s.set_reconnect_ivl(100)?;
        s.set_reconnect_ivl_max(1000)?;
        zmq_util::set_xpub_nodrop(&mut s)?;
        if let Some(keys) = &cfg.curve {
            crate::security::apply_client(&s, keys).map_err(|_| zmq::Error::EINVAL)?;
        }
        s.connect(&cfg.endpoint)?;
        Ok(s)
    };
    match setup() {
        Ok(s) => Some(s),
        Err(e) => {
            logger.drain_state().errors.fetch_add(1, Relaxed);
            eprintln!(
                "zmq_adaptor[{}]: cannot connect publisher to {}: {}; records stay queued up to the bound",
                std::process::id(),
                cfg.endpoint,
                e
            );
            None
        }
    }
}

/// The drainer thread body. Owns the process's ZeroMQ context and socket.
pub(crate) fn run(logger: &'static Logger) {
    let st = logger.drain_state();
    let q = logger.queue();
    let interval = logger.config().batch_interval;
    let poll_ms = (interval.as_millis() as i64).max(1);
    let ctx = zmq::Context::new();
    let sock = open_socket(&ctx, logger);
    let mut subs: i64 = 0;
    let mut held: Option<Held> = None;
    let mut spent: Vec<Record> = Vec::with_capacity(MAX_BATCH);
    loop {
        let mut sent = 0usize;
        let mut bytes = 0usize;
        let mut full_batch = false;
        if let Some(sock) = &sock {
            read_subscriptions(sock, &mut subs);
            st.subscribed.store(subs > 0, Relaxed);
            if subs > 0 {
                while sent < MAX_BATCH {
                    let mut h = match held.take() {
                        Some(h) => h,
                        None => match q.pop() {
                            Some(rec) => Held {
                                rec,
                                topic_sent: false,
                            },
                            None => break,
                        },
                    };
                    let charge = h.rec.charge();
                    match send_one(sock, &mut h) {
                        SendOutcome::Sent => {
                            sent += 1;
                            bytes += charge;
                            spent.push(h.rec);
                        }
                        SendOutcome::Again => {
                            st.retries.fetch_add(1, Relaxed);
                            held = Some(h);
                            break;
                        }
                        SendOutcome::Failed => {
                            st.errors.fetch_add(1, Relaxed);
                            held = Some(h);
                            break;
                        }
                    }
                }
                full_batch = sent == MAX_BATCH;
            }
        }
        st.held.store(held.is_some() as u64, Relaxed);
        if sent > 0 {
            q.recycle(&mut spent);
            q.release(bytes);
            st.sent.fetch_add(sent as u64, SeqCst);
            st.notify();
        }
        if let Some(deadline) = st.stop_deadline() {
            let drained = held.is_none() && q.depth() == 0;
            if drained || Instant::now() >= deadline {
                break;
            }
        }
        if full_batch {
            continue;
        }
        match &sock {
            // Waiting for the adaptor: wake when its subscription arrives.
            Some(s) if subs <= 0 => {
                let _ = s.poll(zmq::POLLIN, poll_ms);
            }
            // Backpressure from libzmq (HWM): retry sooner than a full interval.
            _ if held.is_some() => std::thread::park_timeout(interval.min(RETRY_WAIT)),
            _ => std::thread::park_timeout(interval),
        }
    }
    // Close within what is left of the linger, in this thread and this process.
    let left = || {
        st.stop_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    };
    if st.sent.load(Relaxed) > 0 {
        // libzmq 4.3 can drop the last messages written just before a close, linger
        // or not (seen with multipart messages over ipc): let its I/O thread write
        // them out first.
        std::thread::sleep(left().min(CLOSE_SETTLE));
    }
    let left = left();
    if let Some(s) = sock {
        let _ = s.set_linger(left.as_millis() as i32);
        drop(s);
    }
    drop(ctx);
    *st.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
    st.notify();
}

//! The per-process logger: created lazily on first use, never before `fork`, and
//! re-created in a child after `fork` (the parent's ZeroMQ objects are left untouched).

use crate::config::{self, Config};
use crate::drainer::{self, DrainerState, Waker};
use crate::error::{zmq_adaptor_result as R, Result};
use crate::log::{self, Level};
use crate::queue::{Pushed, RecordQueue};
use crate::stats::zmq_adaptor_stats;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Everything one process's logger owns. Leaked on purpose: it lives as long as the
/// process, and a copy inherited by a forked child must never be dropped there.
pub struct Logger {
    /// The process that created it (a child after fork creates its own).
    pid: u32,
    /// Settings fixed at start.
    cfg: Config,
    /// Request path → drainer.
    queue: RecordQueue,
    /// Drainer progress, flush and stop signalling.
    drain: DrainerState,
    /// Wakes the drainer early.
    waker: Waker,
    /// Set at process exit: new records are refused with `ZMQ_ADAPTOR_ERR_CLOSED`.
    closing: AtomicBool,
}

/// A host's "shutting down" flag and a function giving its shutdown timeout in ms
/// (nginx: `ngx_exiting` and `worker_shutdown_timeout`), set by a binding. When the
/// flag turns non-zero the drainer notes the time; the exit wait then ends at that
/// time plus the timeout at the latest, so the logger never keeps a process past its
/// host's own shutdown deadline.
static WATCH_FLAG: AtomicPtr<usize> = AtomicPtr::new(ptr::null_mut());
static WATCH_TIMEOUT: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Type of the timeout function given to [`watch_shutdown`].
pub type ShutdownTimeoutFn = extern "C" fn() -> u32;

/// Sets (or, with a NULL flag, clears) the host shutdown watch. See `WATCH_FLAG`.
pub fn watch_shutdown(flag: *const usize, timeout: Option<ShutdownTimeoutFn>) {
    WATCH_TIMEOUT.store(
        timeout.map_or(ptr::null_mut(), |f| f as *mut ()),
        Ordering::SeqCst,
    );
    WATCH_FLAG.store(flag as *mut usize, Ordering::SeqCst);
}

/// The host's shutdown timeout when its flag says it is shutting down now and it has
/// one.
pub(crate) fn host_shutting_down() -> Option<Duration> {
    let f = WATCH_FLAG.load(Ordering::Acquire);
    if f.is_null() {
        return None;
    }
    // SAFETY: the binding gave the address of a host global that lives as long as
    // the process (nginx's ngx_exiting); a torn read of a word is not possible.
    if unsafe { std::ptr::read_volatile(f) } == 0 {
        return None;
    }
    let t = WATCH_TIMEOUT.load(Ordering::Acquire);
    if t.is_null() {
        return None;
    }
    // SAFETY: stored from a `ShutdownTimeoutFn` in `watch_shutdown`.
    let f: ShutdownTimeoutFn = unsafe { std::mem::transmute::<*mut (), ShutdownTimeoutFn>(t) };
    // 0: the host sets no shutdown timeout; the linger alone bounds the wait.
    match f() {
        0 => None,
        ms => Some(Duration::from_millis(ms as u64)),
    }
}

/// The logger of this process, or null before first use (and in a fresh fork child).
static CURRENT: AtomicPtr<Logger> = AtomicPtr::new(ptr::null_mut());
/// 0 = none, 1 = being created, 2 = ready. A CAS, not a mutex: `fork` can't strand it.
static STATE: AtomicU8 = AtomicU8::new(0);
const NONE: u8 = 0;
const CREATING: u8 = 1;
const READY: u8 = 2;

extern "C" fn after_fork_in_child() {
    // The parent's logger (and its ZeroMQ context) belongs to the parent: forget it here.
    CURRENT.store(ptr::null_mut(), Ordering::SeqCst);
    STATE.store(NONE, Ordering::SeqCst);
}

extern "C" fn at_process_exit() {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: a non-null CURRENT points to a leaked Box<Logger> that is never freed.
    let logger = unsafe { &*p };
    if logger.pid != std::process::id() {
        return;
    }
    let _ = std::panic::catch_unwind(|| logger.shutdown(logger.cfg.linger));
}

fn register_process_hooks() {
    static HOOKS: Once = Once::new();
    HOOKS.call_once(|| {
        // SAFETY: both handlers are `extern "C"` functions with static lifetime that
        // only touch atomics (child handler) or the leaked logger (exit handler).
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
            libc::atexit(at_process_exit);
        }
    });
}

/// The logger of this process, started on first call.
pub fn get() -> Result<&'static Logger> {
    let p = CURRENT.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: non-null CURRENT is a leaked, never-freed Logger of this process
        // (the fork handler nulls it in children).
        return Ok(unsafe { &*p });
    }
    start_slow()
}

/// The logger if it already runs in this process (stats and flush never start it).
pub fn running() -> Option<&'static Logger> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: as in `get`.
    (!p.is_null()).then(|| unsafe { &*p })
}

#[cold]
fn start_slow() -> Result<&'static Logger> {
    register_process_hooks();
    loop {
        match STATE.compare_exchange(NONE, CREATING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let made = config::effective().and_then(Logger::start);
                match made {
                    Ok(l) => {
                        CURRENT.store(l as *const Logger as *mut Logger, Ordering::Release);
                        STATE.store(READY, Ordering::Release);
                        return Ok(l);
                    }
                    Err(e) => {
                        STATE.store(NONE, Ordering::Release);
                        return Err(e);
                    }
                }
            }
            Err(READY) => {
                if let Some(l) = running() {
                    return Ok(l);
                }
                std::thread::yield_now();
            }
            Err(_) => std::thread::yield_now(),
        }
    }
}

/// Stores the configuration used when the logger starts in this process (and in
/// processes forked from it). Refused once the logger runs here.
pub fn configure(cfg: Config) -> Result<()> {
    if running().is_some() {
        return Err(R::ZMQ_ADAPTOR_ERR_ALREADY_STARTED);
    }
    config::store(cfg)
}

impl Logger {
    fn start(cfg: Config) -> Result<&'static Logger> {
        let queue = RecordQueue::new(
            cfg.queue_records,
            cfg.queue_bytes,
            cfg.max_record_bytes,
            cfg.batch_records,
        );
        let waker = Waker::new().map_err(|_| R::ZMQ_ADAPTOR_ERR_ZMQ)?;
        let logger: &'static Logger = Box::leak(Box::new(Logger {
            pid: std::process::id(),
            cfg,
            queue,
            drain: DrainerState::default(),
            waker,
            closing: AtomicBool::new(false),
        }));
        std::thread::Builder::new()
            .name("zmq-adaptor-drain".into())
            .spawn(move || {
                drainer::run(drainer::Parts {
                    cfg: &logger.cfg,
                    queue: &logger.queue,
                    state: &logger.drain,
                    waker: &logger.waker,
                })
            })
            .map_err(|_| R::ZMQ_ADAPTOR_ERR_ZMQ)?;
        Ok(logger)
    }

    /// Queues one single-frame record. Request path: one copy into the queue, no
    /// lock; the only syscall is the drainer wake-up when the queue reaches
    /// `batch_records`.
    #[inline]
    pub fn log(&self, record: &[u8]) -> Result<()> {
        self.push(b"", record)
    }

    /// Queues a two-frame `[topic, record]` message.
    #[inline]
    pub fn publish(&self, topic: &[u8], record: &[u8]) -> Result<()> {
        if topic.is_empty() {
            return Err(R::ZMQ_ADAPTOR_ERR_EMPTY);
        }
        self.push(topic, record)
    }

    #[inline]
    fn push(&self, topic: &[u8], record: &[u8]) -> Result<()> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(R::ZMQ_ADAPTOR_ERR_CLOSED);
        }
        if self.queue.push(topic, record)? == Pushed::WakeDrainer {
            self.waker.wake();
        }
        Ok(())
    }

    /// Counts a record the C layer refused for its length alone (before any slice
    /// over the caller's memory was built), like any other oversize record.
    pub(crate) fn refuse_too_large(&self) {
        self.queue.refuse_too_large();
    }

    /// Waits until every record accepted before the call was acknowledged by the
    /// adaptor (or given up as larger than the adaptor takes, which is counted).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let target = self.queue.enqueued();
        let _waiting = self.drain.waiting();
        self.drain.make_urgent();
        self.waker.wake();
        if self.drain.wait_settled(target, Instant::now() + timeout) {
            Ok(())
        } else {
            Err(R::ZMQ_ADAPTOR_ERR_TIMEOUT)
        }
    }

    /// Counters of this process's logger.
    pub fn stats(&self) -> zmq_adaptor_stats {
        let mut s = self.drain.stats();
        s.enqueued = self.queue.enqueued();
        s.dropped_queue_full = self.queue.dropped_queue_full();
        s.dropped_too_large = self.queue.dropped_too_large();
        s.queue_records = self.queue.depth() as u64;
        s.queue_bytes = self.queue.depth_bytes() as u64;
        s
    }

    /// Stops accepting records, waits up to `linger` for the adaptor to acknowledge
    /// everything accepted, then closes the ZeroMQ socket and context in the drainer
    /// thread and reports the outcome in one line (`undelivered=N`, exact). Never
    /// waits much past `linger`.
    pub fn shutdown(&self, linger: Duration) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        // Never past the host's own shutdown deadline (a short grace for the last
        // acknowledgement and the final report).
        let linger = match self.drain.host_deadline() {
            Some(d) => linger.min(
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100)),
            ),
            None => linger,
        };
        let deadline = Instant::now() + linger;
        let _ = self.flush(linger);
        self.drain.request_stop(deadline);
        self.waker.wake();
        self.drain
            .wait_stopped(deadline + Duration::from_millis(300));
        let s = self.stats();
        if s.enqueued == 0 && s.dropped_queue_full == 0 && s.dropped_too_large == 0 {
            return;
        }
        let undelivered = s.enqueued.saturating_sub(self.drain.delivered());
        let mut line = format!(
            "exit: accepted={} delivered={} undelivered={} refused_queue_full={} refused_too_large={}",
            s.enqueued, s.delivered, undelivered, s.dropped_queue_full, s.dropped_too_large
        );
        if undelivered > 0 {
            line.push_str(&format!(
                "; {undelivered} record(s) not delivered: no adaptor acknowledged them within linger of {} ms",
                linger.as_millis()
            ));
        }
        log::emit(
            if undelivered > 0 {
                Level::Error
            } else {
                Level::Notice
            },
            &line,
        );
    }

    /// Configuration this logger runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

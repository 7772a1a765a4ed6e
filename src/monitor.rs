//! Socket-event watching (listening, accepted, disconnected, bind failures) through
//! libzmq's socket monitor, reported to an [`EventSink`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One socket event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEvent {
    /// Which side of the adaptor ("listen", "publish", "reverse-sub", …).
    pub side: &'static str,
    /// libzmq's event name, lower case ("listening", "accepted", "disconnected", …).
    pub kind: &'static str,
    /// The endpoint the event is about.
    pub endpoint: String,
    /// Event value (fd, errno or interval, depending on the event).
    pub value: u32,
    /// Whether this is a failure (bind/accept failures, handshake errors).
    pub is_error: bool,
}

/// Where events go. Cloned into every watcher.
pub type EventSink = Arc<dyn Fn(&SocketEvent) + Send + Sync>;

fn name(ev: u16) -> (&'static str, bool) {
    match ev as i32 {
        x if x == zmq::SocketEvent::CONNECTED as i32 => ("connected", false),
        x if x == zmq::SocketEvent::CONNECT_DELAYED as i32 => ("connect-delayed", false),
        x if x == zmq::SocketEvent::CONNECT_RETRIED as i32 => ("connect-retried", false),
        x if x == zmq::SocketEvent::LISTENING as i32 => ("listening", false),
        x if x == zmq::SocketEvent::BIND_FAILED as i32 => ("bind-failed", true),
        x if x == zmq::SocketEvent::ACCEPTED as i32 => ("accepted", false),
        x if x == zmq::SocketEvent::ACCEPT_FAILED as i32 => ("accept-failed", true),
        x if x == zmq::SocketEvent::CLOSED as i32 => ("closed", false),
        x if x == zmq::SocketEvent::CLOSE_FAILED as i32 => ("close-failed", true),
        x if x == zmq::SocketEvent::DISCONNECTED as i32 => ("disconnected", false),
        x if x == zmq::SocketEvent::MONITOR_STOPPED as i32 => ("monitor-stopped", false),
        0x0800 => ("handshake-failed-no-detail", true),
        0x1000 => ("handshake-succeeded", false),
        0x2000 => ("handshake-failed-protocol", true),
        0x4000 => ("handshake-failed-auth", true),
        _ => ("other", false),
    }
}

/// A running watcher thread; [`Monitor::stop`] ends it within 100 ms.
pub struct Monitor {
    /// Tells the watcher thread to close its socket and end.
    stop: Arc<AtomicBool>,
    /// The watcher thread.
    thread: Option<JoinHandle<()>>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Starts watching `sock`. With `connections`, keeps a live count of accepted peers.
pub fn watch(
    ctx: &zmq::Context,
    sock: &zmq::Socket,
    side: &'static str,
    sink: EventSink,
    connections: Option<Arc<AtomicU64>>,
) -> zmq::Result<Monitor> {
    let ep = format!(
        "inproc://zmq-adaptor-monitor-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    sock.monitor(&ep, zmq::SocketEvent::ALL as i32)?;
    let rx = ctx.socket(zmq::PAIR)?;
    rx.set_linger(0)?;
    rx.connect(&ep)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("zmq-adaptor-monitor".into())
        .spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                match rx.poll(zmq::POLLIN, 100) {
                    Ok(n) if n > 0 => {}
                    Ok(_) => continue,
                    Err(_) => break,
                }
                let Ok(parts) = rx.recv_multipart(zmq::DONTWAIT) else {
                    continue;
                };
                let (Some(head), Some(addr)) = (parts.first(), parts.get(1)) else {
                    continue;
                };
                if head.len() < 6 {
                    continue;
                }
                let ev = u16::from_ne_bytes([head[0], head[1]]);
                let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
                let (kind, is_error) = name(ev);
                if let Some(c) = &connections {
                    match kind {
                        "accepted" => {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                        "disconnected" => {
                            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                                Some(v.saturating_sub(1))
                            });
                        }
                        _ => {}
                    }
                }
                sink(&SocketEvent {
                    side,
                    kind,
                    endpoint: String::from_utf8_lossy(addr).into_owned(),
                    value,
                    is_error,
                });
            }
        })
        .map_err(|_| zmq::Error::EFAULT)?;
    Ok(Monitor {
        stop,
        thread: Some(thread),
    })
}

impl Monitor {
    /// Ends the watcher and closes its socket.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

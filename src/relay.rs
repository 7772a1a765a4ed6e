//! The reverse channel's loop: SUB (commands from a tracking service) → PUSH
//! (nginx-side PULL consumers). A PUSH with no peer refuses messages; they are held
//! (one at a time) until a peer takes them, so nothing is forwarded to nobody.

use crate::accounting::Accounting;
use crate::proxy::{CaptureFn, Captured};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Most messages moved per wake-up before control is looked at.
const BURST: usize = 1000;

/// The relay's state, owned by its thread.
pub struct Relay {
    /// Source of messages (SUB).
    pub frontend: zmq::Socket,
    /// Destination (PUSH).
    pub backend: zmq::Socket,
    /// Commands: PAUSE, RESUME, TERMINATE, DRAIN, STATISTICS.
    pub control: zmq::Socket,
    /// Debug hook.
    pub capture: Option<CaptureFn>,
    /// Shared counters (messages and bytes in and out).
    pub acct: Arc<Accounting>,
}

impl Relay {
    /// Runs until TERMINATE or DRAIN.
    pub fn run(&mut self) -> zmq::Result<()> {
        let mut paused = false;
        // A message part the backend refused, kept until it takes it.
        let mut held: Option<(zmq::Message, bool)> = None;
        loop {
            let want_front = !paused && held.is_none();
            let mut items = [
                self.control.as_poll_item(zmq::POLLIN),
                self.backend.as_poll_item(if held.is_some() {
                    zmq::POLLOUT
                } else {
                    zmq::PollEvents::empty()
                }),
                self.frontend.as_poll_item(if want_front {
                    zmq::POLLIN
                } else {
                    zmq::PollEvents::empty()
                }),
            ];
            zmq::poll(&mut items, if held.is_some() { 10 } else { -1 })?;
            let ready = items.map(|i| i.is_readable());
            if ready[0] {
                match self.control.recv_bytes(zmq::DONTWAIT) {
                    Ok(cmd) => match cmd.as_slice() {
                        b"PAUSE" => paused = true,
                        b"RESUME" => paused = false,
                        b"STATISTICS" => {}
                        c if c == b"TERMINATE" || c.starts_with(b"DRAIN") => return Ok(()),
                        _ => {}
                    },
                    Err(zmq::Error::EAGAIN) => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some((msg, more)) = held.take() {
                held = self.forward(msg, more)?;
                if held.is_some() {
                    continue;
                }
            }
            if ready[2] {
                for _ in 0..BURST {
                    let mut msg = zmq::Message::new();
                    match self.frontend.recv(&mut msg, zmq::DONTWAIT) {
                        Ok(()) => {}
                        Err(zmq::Error::EAGAIN) => break,
                        Err(e) => return Err(e),
                    }
                    let more = msg.get_more();
                    self.acct.bytes_in.fetch_add(msg.len() as u64, Relaxed);
                    if !more {
                        self.acct.msgs_in.fetch_add(1, Relaxed);
                    }
                    held = self.forward(msg, more)?;
                    if held.is_some() {
                        break;
                    }
                }
            }
        }
    }

    /// Sends one part; returns it back when the backend refused it.
    fn forward(
        &mut self,
        msg: zmq::Message,
        more: bool,
    ) -> zmq::Result<Option<(zmq::Message, bool)>> {
        let len = msg.len() as u64;
        if let Some(f) = self.capture.as_mut() {
            f(Captured::Message, &msg, more);
        }
        let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
        // The zmq crate consumes the message on send: keep a copy for a refusal.
        let keep = zmq::Message::from(&msg[..]);
        match self.backend.send(msg, flags) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Ok(Some((keep, more))),
            Err(e) => return Err(e),
        }
        self.acct.bytes_out.fetch_add(len, Relaxed);
        if !more {
            self.acct.msgs_out.fetch_add(1, Relaxed);
        }
        Ok(None)
    }
}

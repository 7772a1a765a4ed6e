//! Where the library's own messages go: a callback the embedder sets (nginx's error
//! log, syslog, …) or, by default, standard error. Never used on the request path.

use std::os::raw::{c_char, c_int, c_void};
use std::sync::Mutex;

/// Severity of a message, with syslog's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    /// Something failed.
    Error = 3,
    /// Something is wrong but work goes on.
    Warn = 4,
    /// Normal but significant (accounting lines at exit).
    Notice = 5,
    /// Informational.
    Info = 6,
}

/// A log callback: `level` (syslog numbers: 3 error, 4 warning, 5 notice, 6 info),
/// the message (`len` bytes, not NUL-terminated, valid only during the call) and the
/// `user` pointer given when it was set.
pub type LogCallback =
    extern "C" fn(level: c_int, msg: *const c_char, len: usize, user: *mut c_void);

/// The callback and its user pointer (stored as an address so the pair is `Send`).
static SINK: Mutex<Option<(LogCallback, usize)>> = Mutex::new(None);

/// Replaces the destination of the library's messages (`None`: standard error).
pub fn set_callback(cb: Option<(LogCallback, *mut c_void)>) {
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = cb.map(|(f, u)| (f, u as usize));
}

/// Emits one message, prefixed `zmq_logger[pid]: ` when it goes to standard error.
pub fn emit(level: Level, msg: &str) {
    let sink = *SINK.lock().unwrap_or_else(|p| p.into_inner());
    match sink {
        Some((f, user)) => f(
            level as c_int,
            msg.as_ptr() as *const c_char,
            msg.len(),
            user as *mut c_void,
        ),
        None => eprintln!("zmq_logger[{}]: {msg}", std::process::id()),
    }
}

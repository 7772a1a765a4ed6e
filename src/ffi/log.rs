//! C ABI of the library's log: where its own messages (the exit accounting line,
//! connection errors) go.

use super::ffi_boundary;
use crate::error::zmq_adaptor_result as R;
use crate::log;
use std::os::raw::{c_char, c_int, c_void};

/// A log callback: `(level, message, length, user)`; see
/// `zmq_adaptor_set_log_callback`.
#[allow(non_camel_case_types)]
pub type zmq_adaptor_log_fn =
    Option<extern "C" fn(level: c_int, msg: *const c_char, len: usize, user: *mut c_void)>;

/// Sends the library's messages to `cb` instead of standard error (NULL restores
/// standard error). `cb` receives a syslog level (3 error, 4 warning, 5 notice,
/// 6 info), the message (`len` bytes, not NUL-terminated, valid during the call
/// only) and `user`. It may be called from the library's drainer thread and from the
/// process's `atexit` handlers, so it must be thread-safe and must not call back
/// into the library. The message at process exit that carries `undelivered=N` is
/// logged at level 5 (notice), or 3 (error) when N > 0.
///
/// Both pointers are stored, not dereferenced now; `user` may be NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_set_log_callback(cb: zmq_adaptor_log_fn, user: *mut c_void) -> c_int {
    ffi_boundary!({
        log::set_callback(cb.map(|f| (f, user)));
        R::ZMQ_ADAPTOR_OK as c_int
    })
}

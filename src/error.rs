//! Result codes shared by the Rust API and the C ABI.

use std::fmt;

/// Result codes returned by every `zmq_adaptor_*` function.
///
/// `ZMQ_ADAPTOR_OK` (0) is success; every other value names one failure.
/// `zmq_adaptor_strerror` turns a code into a static, human-readable string.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum zmq_adaptor_result {
    /// Success.
    ZMQ_ADAPTOR_OK = 0,
    /// A required pointer argument was NULL.
    ZMQ_ADAPTOR_ERR_NULL = 1,
    /// The record (or topic) is empty.
    ZMQ_ADAPTOR_ERR_EMPTY = 2,
    /// The record is larger than `max_record_bytes`; it was counted in `dropped_too_large`.
    ZMQ_ADAPTOR_ERR_TOO_LARGE = 3,
    /// The queue is at its record or byte bound; the record was counted in `dropped_queue_full`.
    ZMQ_ADAPTOR_ERR_QUEUE_FULL = 4,
    /// The endpoint is not a valid ZeroMQ endpoint (`tcp://host:port`, `ipc:///path`, `inproc://name`).
    ZMQ_ADAPTOR_ERR_BAD_ENDPOINT = 5,
    /// A configuration value is out of range.
    ZMQ_ADAPTOR_ERR_BAD_CONFIG = 6,
    /// The logger already runs in this process; configuration can no longer change.
    ZMQ_ADAPTOR_ERR_ALREADY_STARTED = 7,
    /// The operation did not complete before its timeout.
    ZMQ_ADAPTOR_ERR_TIMEOUT = 8,
    /// libzmq reported an error.
    ZMQ_ADAPTOR_ERR_ZMQ = 9,
    /// An internal panic was caught at the boundary; the call had no effect.
    ZMQ_ADAPTOR_ERR_PANIC = 10,
    /// The logger is shutting down (process exit); the record was not accepted.
    ZMQ_ADAPTOR_ERR_CLOSED = 11,
    /// The topic is longer than the 65535-byte topic limit.
    ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE = 12,
    /// The proxy handle was already stopped.
    ZMQ_ADAPTOR_ERR_STOPPED = 13,
    /// The ipc path is held by another running adaptor or proxy (its `PATH.lock`).
    ZMQ_ADAPTOR_ERR_IN_USE = 14,
    /// A CURVE key is malformed (not 40 Z85 characters), `curve_public_key` does not
    /// belong to `curve_secret_key`, or only some of the three keys were given.
    ZMQ_ADAPTOR_ERR_BAD_KEY = 15,
}

/// The Rust-side error type: a result code plus nothing else, so errors never allocate.
pub type Error = zmq_adaptor_result;

/// Convenience alias used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl zmq_adaptor_result {
    /// Every code, in numeric order (used by tests and `strerror`).
    pub fn all() -> [zmq_adaptor_result; 16] {
        [
            Self::ZMQ_ADAPTOR_OK,
            Self::ZMQ_ADAPTOR_ERR_NULL,
            Self::ZMQ_ADAPTOR_ERR_EMPTY,
            Self::ZMQ_ADAPTOR_ERR_TOO_LARGE,
            Self::ZMQ_ADAPTOR_ERR_QUEUE_FULL,
            Self::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT,
            Self::ZMQ_ADAPTOR_ERR_BAD_CONFIG,
            Self::ZMQ_ADAPTOR_ERR_ALREADY_STARTED,
            Self::ZMQ_ADAPTOR_ERR_TIMEOUT,
            Self::ZMQ_ADAPTOR_ERR_ZMQ,
            Self::ZMQ_ADAPTOR_ERR_PANIC,
            Self::ZMQ_ADAPTOR_ERR_CLOSED,
            Self::ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE,
            Self::ZMQ_ADAPTOR_ERR_STOPPED,
            Self::ZMQ_ADAPTOR_ERR_IN_USE,
            Self::ZMQ_ADAPTOR_ERR_BAD_KEY,
        ]
    }

    /// The code for a raw integer, if it names one.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::all().into_iter().find(|c| *c as i32 == code)
    }

    /// A static, NUL-terminated description (shared with `zmq_adaptor_strerror`).
    pub fn message_with_nul(self) -> &'static str {
        match self {
            Self::ZMQ_ADAPTOR_OK => "success\0",
            Self::ZMQ_ADAPTOR_ERR_NULL => "NULL pointer argument\0",
            Self::ZMQ_ADAPTOR_ERR_EMPTY => "empty record or topic\0",
            Self::ZMQ_ADAPTOR_ERR_TOO_LARGE => "record larger than max_record_bytes\0",
            Self::ZMQ_ADAPTOR_ERR_QUEUE_FULL => "queue full: record dropped and counted\0",
            Self::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT => {
                "bad endpoint: expected tcp://host:port, ipc:///path or inproc://name\0"
            }
            Self::ZMQ_ADAPTOR_ERR_BAD_CONFIG => "configuration value out of range\0",
            Self::ZMQ_ADAPTOR_ERR_ALREADY_STARTED => {
                "logger already started in this process; configure before the first record\0"
            }
            Self::ZMQ_ADAPTOR_ERR_TIMEOUT => "timed out\0",
            Self::ZMQ_ADAPTOR_ERR_ZMQ => "libzmq error\0",
            Self::ZMQ_ADAPTOR_ERR_PANIC => "internal panic caught at the API boundary\0",
            Self::ZMQ_ADAPTOR_ERR_CLOSED => "logger is shut down (process exiting)\0",
            Self::ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE => "topic longer than 65535 bytes\0",
            Self::ZMQ_ADAPTOR_ERR_STOPPED => "proxy already stopped\0",
            Self::ZMQ_ADAPTOR_ERR_IN_USE => "ipc path in use by another running adaptor or proxy\0",
            Self::ZMQ_ADAPTOR_ERR_BAD_KEY => {
                "bad CURVE key: give curve_server_key, curve_public_key and curve_secret_key together, \
                 each 40 Z85 characters, the public key belonging to the secret key\0"
            }
        }
    }

    /// The description without its trailing NUL.
    pub fn message(self) -> &'static str {
        let m = self.message_with_nul();
        &m[..m.len() - 1]
    }

    /// Converts `Result<()>` into the C return value.
    pub fn code_of(r: Result<()>) -> i32 {
        match r {
            Ok(()) => Self::ZMQ_ADAPTOR_OK as i32,
            Err(e) => e as i32,
        }
    }
}

impl fmt::Display for zmq_adaptor_result {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for zmq_adaptor_result {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_messages() {
        for (i, c) in zmq_adaptor_result::all().iter().enumerate() {
            assert_eq!(*c as i32, i as i32);
            assert_eq!(zmq_adaptor_result::from_code(i as i32), Some(*c));
            assert!(c.message_with_nul().ends_with('\0'));
            assert!(!c.message().contains('\0'));
        }
        assert_eq!(zmq_adaptor_result::from_code(999), None);
    }
}

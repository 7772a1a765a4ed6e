//! C ABI of the per-process logger: configure, log, publish, flush, stats, strerror.

use super::{ffi_boundary, try_cstr, try_ref, try_slice};
use crate::config::{check_field, Config, ConfigError, DEFAULT_ENDPOINT, MAX_RECORD_BYTES};
use crate::error::zmq_adaptor_result as R;
use crate::queue::MAX_TOPIC;
use crate::stats::zmq_adaptor_stats;
use std::os::raw::{c_char, c_int};
use std::time::Duration;

/// Logger settings for `zmq_adaptor_configure`. Fill with
/// `zmq_adaptor_config_init` first; a zero (or NULL `endpoint`) field means "default".
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zmq_adaptor_config {
    /// Adaptor listen endpoint the publisher connects to, NUL-terminated
    /// (default `ipc:///tmp/nginx_queue_listen`, or `$ZMQ_ADAPTOR_ENDPOINT`). Borrowed:
    /// copied during the call.
    pub endpoint: *const c_char,
    /// Queue bound in records (default 65536, at most 1048576: the ring's slots are
    /// allocated when the logger starts).
    pub queue_records: usize,
    /// Queue bound in payload bytes (default 64 MiB, at most 1 GiB).
    pub queue_bytes: usize,
    /// Largest record accepted, topic included (default 64 KiB, at most 16 MiB and
    /// at most `queue_bytes`).
    pub max_record_bytes: usize,
    /// libzmq send high-water mark in messages (default 100000, at most 10000000).
    pub send_hwm: u32,
    /// Drainer wake interval in microseconds (default 10000, 50..10000000).
    pub batch_interval_us: u32,
    /// Queue depth that wakes the drainer early (default 4096, at most 1048576; the
    /// wake happens at `min(batch_records, queue_records)`).
    pub batch_records: u32,
    /// Longest wait at process exit to deliver queued records, in ms (default 2000,
    /// at most 600000).
    pub linger_ms: u32,
    /// Public key of the adaptor (its `NAME.key` certificate), 40 Z85 characters,
    /// NUL-terminated: the publisher becomes a CURVE client. NULL (default): no
    /// encryption. Borrowed: copied during the call. The three `curve_*` keys are
    /// given together or not at all; otherwise `ZMQ_ADAPTOR_ERR_BAD_KEY`.
    pub curve_server_key: *const c_char,
    /// This worker's CURVE public key (Z85, 40 characters); its certificate must be
    /// in the adaptor's `--curve-clients` directory. NULL: no encryption.
    pub curve_public_key: *const c_char,
    /// This worker's CURVE secret key (Z85, 40 characters). Never logged or echoed in
    /// errors. NULL: no encryption.
    pub curve_secret_key: *const c_char,
}

/// Fills `cfg` with the defaults (endpoint NULL = default endpoint).
///
/// `cfg` is caller-owned; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_config_init(cfg: *mut zmq_adaptor_config) -> c_int {
    ffi_boundary!({
        if cfg.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        let d = Config::default();
        let v = zmq_adaptor_config {
            endpoint: std::ptr::null(),
            queue_records: d.queue_records,
            queue_bytes: d.queue_bytes,
            max_record_bytes: d.max_record_bytes,
            send_hwm: d.send_hwm as u32,
            batch_interval_us: d.batch_interval.as_micros() as u32,
            batch_records: d.batch_records as u32,
            linger_ms: d.linger.as_millis() as u32,
            curve_server_key: std::ptr::null(),
            curve_public_key: std::ptr::null(),
            curve_secret_key: std::ptr::null(),
        };
        // SAFETY: non-null, caller guarantees it points to writable storage.
        unsafe { cfg.write(v) };
        R::ZMQ_ADAPTOR_OK as c_int
    })
}

/// The `Config` a C struct describes (zero fields: defaults), every value checked
/// before any conversion could clamp it.
/// The three `curve_*` keys: all NULL (no CURVE) or all valid and matching. The
/// message names the key and what is wrong, never its value.
fn curve_from_c(
    c: &zmq_adaptor_config,
) -> Result<Option<crate::security::ClientKeys>, ConfigError> {
    let bad = |field: &'static str, message: String| ConfigError {
        code: R::ZMQ_ADAPTOR_ERR_BAD_KEY,
        field,
        message,
    };
    let keys = [
        ("curve_server_key", c.curve_server_key),
        ("curve_public_key", c.curve_public_key),
        ("curve_secret_key", c.curve_secret_key),
    ];
    if keys.iter().all(|(_, k)| k.is_null()) {
        return Ok(None);
    }
    let mut text = Vec::with_capacity(3);
    for (field, k) in keys {
        if k.is_null() {
            return Err(bad(
                field,
                format!("{field} is missing: give curve_server_key, curve_public_key and curve_secret_key together"),
            ));
        }
        // SAFETY: non-null and NUL-terminated per the export's contract.
        let raw = unsafe { std::ffi::CStr::from_ptr(k) };
        text.push(
            raw.to_str()
                .map_err(|_| bad(field, format!("{field} is not valid UTF-8")))?,
        );
    }
    crate::security::ClientKeys::from_z85(text[0], text[1], text[2])
        .map(Some)
        .map_err(|e| {
            let field = match &e {
                crate::security::SecurityError::BadKey { what, .. }
                    if what == "curve_server_key" =>
                {
                    "curve_server_key"
                }
                crate::security::SecurityError::BadKey { what, .. }
                    if what == "curve_public_key" =>
                {
                    "curve_public_key"
                }
                _ => "curve_secret_key",
            };
            bad(field, e.to_string())
        })
}

fn config_from_c(c: &zmq_adaptor_config) -> Result<Config, ConfigError> {
    let d = Config::default();
    let endpoint = if c.endpoint.is_null() {
        std::env::var(crate::config::ENDPOINT_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
    } else {
        // SAFETY: non-null and NUL-terminated per the export's contract.
        let raw = unsafe { std::ffi::CStr::from_ptr(c.endpoint) };
        match raw.to_str() {
            Ok(s) => s.to_string(),
            Err(_) => {
                return Err(ConfigError {
                    code: R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT,
                    field: "endpoint",
                    message: "endpoint is not valid UTF-8".into(),
                })
            }
        }
    };
    for (field, v) in [
        ("queue_records", c.queue_records as i128),
        ("queue_bytes", c.queue_bytes as i128),
        ("max_record_bytes", c.max_record_bytes as i128),
        ("send_hwm", c.send_hwm as i128),
        ("batch_interval_us", c.batch_interval_us as i128),
        ("batch_records", c.batch_records as i128),
        ("linger_ms", c.linger_ms as i128),
    ] {
        if v != 0 {
            check_field(field, v)?;
        }
    }
    let curve = curve_from_c(c)?;
    // In range now, so every conversion below is exact.
    let pick = |v: usize, dflt: usize| if v == 0 { dflt } else { v };
    let cfg = Config {
        curve,
        endpoint,
        queue_records: pick(c.queue_records, d.queue_records),
        queue_bytes: pick(c.queue_bytes, d.queue_bytes),
        max_record_bytes: pick(c.max_record_bytes, d.max_record_bytes),
        send_hwm: if c.send_hwm == 0 {
            d.send_hwm
        } else {
            c.send_hwm as i32
        },
        batch_interval: if c.batch_interval_us == 0 {
            d.batch_interval
        } else {
            Duration::from_micros(c.batch_interval_us as u64)
        },
        batch_records: pick(c.batch_records as usize, d.batch_records),
        linger: if c.linger_ms == 0 {
            d.linger
        } else {
            Duration::from_millis(c.linger_ms as u64)
        },
    };
    cfg.check()?;
    Ok(cfg)
}

/// Sets the logger configuration of this process (and of processes forked from it
/// later). Must be called before the first record is logged in this process; after
/// that it returns `ZMQ_ADAPTOR_ERR_ALREADY_STARTED` and changes nothing.
///
/// `cfg` is borrowed and copied; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Returns
/// `ZMQ_ADAPTOR_ERR_BAD_ENDPOINT` or `ZMQ_ADAPTOR_ERR_BAD_CONFIG` for invalid values
/// (`zmq_adaptor_config_check` says which field and its bounds). Creates no ZeroMQ
/// object, so it is safe before `fork`. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_configure(cfg: *const zmq_adaptor_config) -> c_int {
    ffi_boundary!({
        let c = try_ref!(cfg);
        match config_from_c(c) {
            Ok(cfg) => R::code_of(crate::configure(cfg)),
            Err(e) => e.code as c_int,
        }
    })
}

/// Checks `cfg` as `zmq_adaptor_configure` would, without storing it, and writes a
/// one-line reason naming the first bad field and its bounds into `msg` (for example
/// `queue_records must be 1..1048576 (got 67108864)`; an empty string when `cfg` is
/// valid). Returns 0, `ZMQ_ADAPTOR_ERR_BAD_CONFIG`, `ZMQ_ADAPTOR_ERR_BAD_ENDPOINT` or
/// `ZMQ_ADAPTOR_ERR_BAD_KEY` (the text names the key, never its value).
///
/// `cfg` is borrowed; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. `msg` may be NULL (no text);
/// otherwise it is caller-owned storage of `msg_len` bytes, always NUL-terminated
/// when `msg_len > 0` (the text is cut to fit). Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_config_check(
    cfg: *const zmq_adaptor_config,
    msg: *mut c_char,
    msg_len: usize,
) -> c_int {
    ffi_boundary!({
        let c = try_ref!(cfg);
        let (code, text) = match config_from_c(c) {
            Ok(_) => (R::ZMQ_ADAPTOR_OK, String::new()),
            Err(e) => (e.code, e.message),
        };
        if !msg.is_null() && msg_len > 0 && msg_len <= isize::MAX as usize {
            let n = text.len().min(msg_len - 1);
            // SAFETY: msg is non-null caller storage of msg_len bytes (contract);
            // n + 1 <= msg_len bytes are written.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), msg as *mut u8, n);
                msg.add(n).write(0);
            }
        }
        code as c_int
    })
}

/// The accepted range of the numeric `zmq_adaptor_config` field called `field`
/// (`"queue_records"`, `"queue_bytes"`, `"max_record_bytes"`, `"send_hwm"`,
/// `"batch_interval_us"`, `"batch_records"`, `"linger_ms"`), in the field's unit.
/// 0 ("default") is accepted in every field besides this range.
///
/// `field` is a borrowed NUL-terminated string; `min` and `max` are caller-owned; any
/// NULL gives `ZMQ_ADAPTOR_ERR_NULL`, an unknown name `ZMQ_ADAPTOR_ERR_BAD_CONFIG`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_config_limit(
    field: *const c_char,
    min: *mut u64,
    max: *mut u64,
) -> c_int {
    ffi_boundary!({
        if min.is_null() || max.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        let name = try_cstr!(field, R::ZMQ_ADAPTOR_ERR_BAD_CONFIG);
        match crate::config::limit(name) {
            Some(l) => {
                // SAFETY: both non-null, caller-owned storage for one u64 each.
                unsafe {
                    min.write(l.min);
                    max.write(l.max);
                }
                R::ZMQ_ADAPTOR_OK as c_int
            }
            None => R::ZMQ_ADAPTOR_ERR_BAD_CONFIG as c_int,
        }
    })
}

/// Queues one record, sent to the adaptor as one frame. Starts the logger of this
/// process on first use. Never blocks; copies the bytes.
///
/// `data` is borrowed for the call only. NULL `data` gives `ZMQ_ADAPTOR_ERR_NULL`;
/// `len == 0` gives `ZMQ_ADAPTOR_ERR_EMPTY`; a record over `max_record_bytes` gives
/// `ZMQ_ADAPTOR_ERR_TOO_LARGE`; a full queue gives `ZMQ_ADAPTOR_ERR_QUEUE_FULL`.
/// Refused records are counted in the stats. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_log(data: *const u8, len: usize) -> c_int {
    ffi_boundary!({
        if data.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        if len > MAX_RECORD_BYTES {
            return refuse_oversize(R::ZMQ_ADAPTOR_ERR_TOO_LARGE);
        }
        let rec = try_slice!(data, len);
        R::code_of(crate::log(rec))
    })
}

/// Queues a two-frame message `[topic, record]`; subscribers filter on the topic
/// prefix. Same rules as `zmq_adaptor_log`; an empty topic gives
/// `ZMQ_ADAPTOR_ERR_EMPTY`, one over 65535 bytes `ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE`.
///
/// Both buffers are borrowed for the call only; NULL gives `ZMQ_ADAPTOR_ERR_NULL`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_publish(
    topic: *const u8,
    topic_len: usize,
    data: *const u8,
    len: usize,
) -> c_int {
    ffi_boundary!({
        if topic.is_null() || data.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        if topic_len > MAX_TOPIC {
            return refuse_oversize(R::ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE);
        }
        if len > MAX_RECORD_BYTES {
            return refuse_oversize(R::ZMQ_ADAPTOR_ERR_TOO_LARGE);
        }
        let t = try_slice!(topic, topic_len);
        let d = try_slice!(data, len);
        R::code_of(crate::publish(t, d))
    })
}

/// Refuses a record whose length alone is over every size the library accepts
/// (`MAX_RECORD_BYTES`, or a topic over 65535 bytes), before any slice is built over
/// the caller's memory; counted in `dropped_too_large` like any other oversize record.
fn refuse_oversize(code: R) -> c_int {
    match crate::logger::get() {
        Ok(l) => {
            l.refuse_too_large();
            code as c_int
        }
        Err(e) => e as c_int,
    }
}

/// A function returning a timeout in milliseconds; see `zmq_adaptor_watch_shutdown`.
#[allow(non_camel_case_types)]
pub type zmq_adaptor_timeout_fn = Option<extern "C" fn() -> u32>;

/// Tells the library how its host shuts down, so that the exit wait never keeps the
/// process past the host's own deadline: `flag` is the address of a word that turns
/// non-zero when the host begins a graceful shutdown (nginx: `&ngx_exiting`), and
/// `timeout_ms` returns the host's shutdown timeout then (nginx:
/// `worker_shutdown_timeout`; 0 means none). From the moment the flag turns with a
/// timeout, queued records are sent at once, and the exit wait ends at that moment
/// plus the timeout (with 100 ms of grace) or after the linger, whichever comes
/// first. NULL `flag` clears the watch; a NULL `timeout_ms`, or one returning 0,
/// leaves the linger alone in charge.
///
/// Both are stored and read later from the drainer thread: `flag` must stay valid
/// for the life of the process and `timeout_ms` must be thread-safe. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_watch_shutdown(
    flag: *const usize,
    timeout_ms: zmq_adaptor_timeout_fn,
) -> c_int {
    ffi_boundary!({
        crate::logger::watch_shutdown(flag, timeout_ms);
        R::ZMQ_ADAPTOR_OK as c_int
    })
}

/// Stops this process's logger now, as the `atexit` hook would: refuses new records
/// (`ZMQ_ADAPTOR_ERR_CLOSED`), waits up to `linger_ms` (0: the configured linger) for
/// the adaptor to acknowledge everything accepted, closes the ZeroMQ socket and logs
/// the accounting line (`undelivered=N`) through the log callback. For embedders
/// whose log callback or code goes away before `exit()` (an nginx module unloaded by
/// its pool cleanup): call it from their own exit hook. Returns 0 (also when the
/// logger never started); later calls and the `atexit` hook do nothing.
/// Thread-safe; blocks the caller up to the linger.
#[no_mangle]
pub extern "C" fn zmq_adaptor_shutdown(linger_ms: u32) -> c_int {
    ffi_boundary!({
        if let Some(l) = crate::logger::running() {
            let linger = if linger_ms == 0 {
                l.config().linger
            } else {
                Duration::from_millis(linger_ms as u64)
            };
            l.shutdown(linger);
        }
        R::ZMQ_ADAPTOR_OK as c_int
    })
}

/// Waits up to `timeout_ms` until the adaptor acknowledged every record accepted in
/// this process before the call (or the record was given up as larger than the
/// adaptor takes, which is counted). Returns 0 then (also when nothing was ever
/// logged), `ZMQ_ADAPTOR_ERR_TIMEOUT` otherwise (records stay queued). Thread-safe; blocks
/// the caller only, never the request path of other threads.
#[no_mangle]
pub extern "C" fn zmq_adaptor_flush(timeout_ms: u32) -> c_int {
    ffi_boundary!({ R::code_of(crate::flush(Duration::from_millis(timeout_ms as u64))) })
}

/// Fills `out` with this process's logger counters (zeros before the first record).
///
/// `out` is caller-owned; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_stats_get(out: *mut zmq_adaptor_stats) -> c_int {
    ffi_boundary!({
        if out.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        let s = crate::stats();
        // SAFETY: non-null, caller guarantees writable storage for one struct.
        unsafe { out.write(s) };
        R::ZMQ_ADAPTOR_OK as c_int
    })
}

/// A static, NUL-terminated description of a result code. Never NULL: unknown codes
/// give "unknown result code". The string is owned by the library; do not free it.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_strerror(code: c_int) -> *const c_char {
    ffi_boundary!(c"unknown result code".as_ptr(), {
        match R::from_code(code) {
            Some(c) => c.message_with_nul().as_ptr() as *const c_char,
            None => c"unknown result code".as_ptr(),
        }
    })
}

/// 1 when the linked libzmq has `capability` (for example "curve", "ipc"), 0 when
/// not or when `capability` is NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_zmq_has(capability: *const c_char) -> c_int {
    ffi_boundary!(0, {
        if capability.is_null() {
            return 0;
        }
        // SAFETY: non-null and NUL-terminated per the contract.
        let s = unsafe { std::ffi::CStr::from_ptr(capability) };
        s.to_str().map(crate::zmq_has).unwrap_or(false) as c_int
    })
}

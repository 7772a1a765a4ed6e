//! `require "zmq_logger"`: the OpenResty/LuaJIT face of `libzmq_adaptor.so`.
//!
//! This module is a thin layer over the C ABI of the core library. It does not link
//! the core crate: at `luaopen` it locates `libzmq_adaptor.so`, `dlopen`s it
//! (`RTLD_NOW | RTLD_GLOBAL`) and calls its exported functions, so every user of the
//! library in one process (this module, a C nginx module, LuaJIT FFI code) shares the
//! same per-process queue and drainer.
//!
//! The library is looked up, in order, at:
//! 1. `$ORIGIN/libzmq_adaptor.so` (the directory holding this module, as loaded and
//!    with symlinks resolved),
//! 2. `$ORIGIN/../../libzmq_adaptor.so` (install layout `/usr/local/lib/lua/5.1` →
//!    `/usr/local/lib`),
//! 3. the path in the environment variable `ZMQ_ADAPTOR_LIB`,
//! 4. plain `libzmq_adaptor.so` through the dynamic loader's search path.
//!
//! The hot calls (`log(string)`, `publish(topic, string)`) are implemented in an
//! embedded Lua chunk that calls the library through LuaJIT FFI (about 10 ns of call
//! overhead instead of about 150 ns for a wrapped Rust function). Everything else
//! (configuration, JSON encoding of tables, stats, flush) is implemented here in Rust.
//!
//! All functions follow the OpenResty convention: `true` (or a value) on success,
//! `nil, "reason"` on failure; bad input never raises a Lua error.

mod nginx_log;

use mlua::prelude::*;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Version of this module, exposed as `zmq_logger._VERSION`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// File name of the core library.
const LIB_NAME: &str = "libzmq_adaptor.so";

/// Environment variable naming the core library explicitly.
const LIB_ENV: &str = "ZMQ_ADAPTOR_LIB";

/// The Lua half of the module (FFI fast path), embedded so that no `zmq_logger.lua`
/// on `package.path` can shadow this module.
const LUA_CHUNK: &str = include_str!("zmq_logger_ffi.lua");

/// Result code for success.
const RC_OK: c_int = 0;
/// Result code for an empty record or topic.
const RC_EMPTY: c_int = 2;
/// Result code for a configuration value out of range.
const RC_BAD_CONFIG: c_int = 6;

/// Nesting limit of the table → JSON encoder (also stops reference cycles).
const MAX_JSON_DEPTH: usize = 64;

/// Mirror of the core library's `zmq_adaptor_config` (field order is the ABI).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct AdaptorConfig {
    endpoint: *const c_char,
    queue_records: usize,
    queue_bytes: usize,
    max_record_bytes: usize,
    send_hwm: u32,
    batch_interval_us: u32,
    batch_records: u32,
    linger_ms: u32,
}

/// Mirror of the core library's `zmq_adaptor_stats`: twelve `uint64_t` counters.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct AdaptorStats {
    enqueued: u64,
    sent: u64,
    dropped_queue_full: u64,
    dropped_too_large: u64,
    queue_records: u64,
    queue_bytes: u64,
    send_retries: u64,
    peer_subscribed: u64,
    zmq_errors: u64,
    delivered: u64,
    in_flight: u64,
    undelivered: u64,
}

type ConfigInitFn = unsafe extern "C" fn(*mut AdaptorConfig) -> c_int;
type ConfigureFn = unsafe extern "C" fn(*const AdaptorConfig) -> c_int;
type ConfigCheckFn = unsafe extern "C" fn(*const AdaptorConfig, *mut c_char, usize) -> c_int;
type ConfigLimitFn = unsafe extern "C" fn(*const c_char, *mut u64, *mut u64) -> c_int;
type LogFn = unsafe extern "C" fn(*const u8, usize) -> c_int;
type PublishFn = unsafe extern "C" fn(*const u8, usize, *const u8, usize) -> c_int;
type FlushFn = unsafe extern "C" fn(u32) -> c_int;
type StatsFn = unsafe extern "C" fn(*mut AdaptorStats) -> c_int;
type StrerrorFn = unsafe extern "C" fn(c_int) -> *const c_char;

/// The resolved entry points of `libzmq_adaptor.so`. The library is never closed,
/// so the pointers stay valid for the life of the process.
struct Adaptor {
    path: String,
    config_init: ConfigInitFn,
    configure: ConfigureFn,
    config_check: ConfigCheckFn,
    config_limit: ConfigLimitFn,
    log: LogFn,
    publish: PublishFn,
    flush: FlushFn,
    stats_get: StatsFn,
    strerror: StrerrorFn,
    set_log_callback: nginx_log::SetLogCallbackFn,
}

impl Adaptor {
    /// The library's static description of `code`.
    fn strerror(&self, code: c_int) -> String {
        // SAFETY: `strerror` is the library's `zmq_adaptor_strerror`, which accepts any
        // code and never returns NULL (unknown codes get a generic string).
        let p = unsafe { (self.strerror)(code) };
        if p.is_null() {
            return format!("error code {code}");
        }
        // SAFETY: non-null, NUL-terminated static string owned by the library.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// Queues one record.
    fn log(&self, rec: &[u8]) -> c_int {
        if rec.is_empty() {
            return RC_EMPTY;
        }
        // SAFETY: pointer and length describe a live, borrowed slice; the library copies.
        unsafe { (self.log)(rec.as_ptr(), rec.len()) }
    }

    /// Queues one `[topic, record]` message.
    fn publish(&self, topic: &[u8], rec: &[u8]) -> c_int {
        if topic.is_empty() || rec.is_empty() {
            return RC_EMPTY;
        }
        // SAFETY: both pointer/length pairs describe live, borrowed slices; the library
        // copies them before returning.
        unsafe { (self.publish)(topic.as_ptr(), topic.len(), rec.as_ptr(), rec.len()) }
    }
}

/// The process-wide library handle, set by the first successful `require`.
static ADAPTOR: Mutex<Option<&'static Adaptor>> = Mutex::new(None);

/// The latest `dlerror()` text, or a generic note.
fn dlerror_text() -> String {
    // SAFETY: dlerror has no preconditions; it returns NULL or a NUL-terminated string.
    let p = unsafe { libc::dlerror() };
    if p.is_null() {
        "unknown dlopen error".to_string()
    } else {
        // SAFETY: non-null, NUL-terminated, valid until the next dl* call on this thread.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Path of the shared object containing `addr`, as the loader knows it.
fn object_path_of(addr: *const c_void) -> Option<PathBuf> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: `info` is a valid, writable Dl_info; dladdr only inspects `addr`.
    let ok = unsafe { libc::dladdr(addr, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr filled dli_fname with a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let s = name.to_str().ok()?;
    if s.is_empty() {
        None
    } else {
        Some(PathBuf::from(s))
    }
}

/// An address inside this module, for `dladdr`.
fn module_marker() -> *const c_void {
    module_marker as *const c_void
}

/// Candidate locations of the core library, in search order, without duplicates.
fn library_candidates() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |p: String| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(me) = object_path_of(module_marker()) {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(d) = me.parent() {
            dirs.push(d.to_path_buf());
        }
        if let Ok(real) = std::fs::canonicalize(&me) {
            if let Some(d) = real.parent() {
                dirs.push(d.to_path_buf());
            }
        }
        for d in &dirs {
            push(d.join(LIB_NAME).to_string_lossy().into_owned());
        }
        for d in &dirs {
            let up = d.join("..").join("..").join(LIB_NAME);
            push(up.to_string_lossy().into_owned());
        }
    }
    if let Ok(p) = std::env::var(LIB_ENV) {
        if !p.is_empty() {
            push(p);
        }
    }
    push(LIB_NAME.to_string());
    out
}

/// Keeps this module mapped for the life of the process: Lua `dlclose`s C modules
/// when a state closes (nginx reload), and a Rust library must not be unmapped while
/// its statics may still be referenced.
fn pin_self() {
    if let Some(me) = object_path_of(module_marker()) {
        if let Ok(c) = CString::new(me.to_string_lossy().into_owned()) {
            // SAFETY: valid NUL-terminated path; RTLD_NOLOAD only bumps the reference
            // count of an already loaded object, RTLD_NODELETE prevents unloading.
            let _ = unsafe {
                libc::dlopen(
                    c.as_ptr(),
                    libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
                )
            };
        }
    }
}

/// Resolves `name` in `handle` as a function pointer of type `T`.
///
/// # Safety
/// `T` must be an `extern "C"` function pointer type matching the symbol's real
/// signature, and `handle` a live dlopen handle.
unsafe fn symbol<T: Copy>(handle: *mut c_void, name: &str) -> Result<T, String> {
    debug_assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<*mut c_void>());
    let cname = CString::new(name).map_err(|_| format!("bad symbol name {name}"))?;
    // SAFETY: handle is live per the contract; cname is NUL-terminated.
    let p = unsafe { libc::dlsym(handle, cname.as_ptr()) };
    if p.is_null() {
        return Err(format!("symbol {name} not found: {}", dlerror_text()));
    }
    // SAFETY: T is a function pointer type of pointer size matching the symbol (contract).
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
}

/// dlopens the core library from the first candidate that loads and resolves all
/// entry points. Errors list every attempt.
fn load_adaptor() -> Result<&'static Adaptor, String> {
    let mut guard = ADAPTOR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = *guard {
        return Ok(a);
    }
    let mut attempts: Vec<String> = Vec::new();
    for cand in library_candidates() {
        // Absolute/relative paths that do not exist are skipped quietly.
        if cand.contains('/') && !Path::new(&cand).exists() {
            attempts.push(format!("{cand}: no such file"));
            continue;
        }
        let Ok(c) = CString::new(cand.clone()) else {
            continue;
        };
        // SAFETY: valid NUL-terminated path; flags are valid dlopen flags.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            attempts.push(format!("{cand}: {}", dlerror_text()));
            continue;
        }
        // SAFETY: each type alias matches the C prototype documented in the core
        // library's header (include/zmq_adaptor.h); handle is live and never closed.
        let resolved = unsafe {
            (|| -> Result<Adaptor, String> {
                let log: LogFn = symbol(handle, "zmq_adaptor_log")?;
                Ok(Adaptor {
                    path: object_path_of(log as *const c_void)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|| cand.clone()),
                    config_init: symbol(handle, "zmq_adaptor_config_init")?,
                    configure: symbol(handle, "zmq_adaptor_configure")?,
                    config_check: symbol(handle, "zmq_adaptor_config_check")?,
                    config_limit: symbol(handle, "zmq_adaptor_config_limit")?,
                    log,
                    publish: symbol(handle, "zmq_adaptor_publish")?,
                    flush: symbol(handle, "zmq_adaptor_flush")?,
                    stats_get: symbol(handle, "zmq_adaptor_stats_get")?,
                    strerror: symbol(handle, "zmq_adaptor_strerror")?,
                    set_log_callback: symbol(handle, "zmq_adaptor_set_log_callback")?,
                })
            })()
        };
        match resolved {
            Ok(a) => {
                let a: &'static Adaptor = Box::leak(Box::new(a));
                nginx_log::install(a.set_log_callback);
                *guard = Some(a);
                return Ok(a);
            }
            Err(e) => attempts.push(format!("{cand}: {e}")),
        }
    }
    Err(format!(
        "zmq_logger: cannot load {LIB_NAME} (put it next to zmq_logger.so or set {LIB_ENV}); tried: {}",
        attempts.join("; ")
    ))
}

/// What a function returns to Lua: `true`/a value, or `nil, "reason"`.
type Ret = LuaResult<LuaMultiValue>;

/// `nil, msg` for Lua.
fn fail(lua: &Lua, msg: &str) -> Ret {
    Ok(LuaMultiValue::from_iter([
        LuaValue::Nil,
        LuaValue::String(lua.create_string(msg)?),
    ]))
}

/// A single value for Lua.
fn ok_value(v: LuaValue) -> Ret {
    Ok(LuaMultiValue::from_iter([v]))
}

/// `true` for Lua.
fn success() -> Ret {
    ok_value(LuaValue::Boolean(true))
}

/// The Lua type name of `v` as `type()` reports it (LuaJIT has no integer subtype).
fn type_name(v: &LuaValue) -> &'static str {
    match v {
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::LightUserData(_) => "userdata",
        other => other.type_name(),
    }
}

/// `true` or `nil, strerror(rc)`.
fn rc_result(lua: &Lua, a: &Adaptor, rc: c_int) -> Ret {
    if rc == RC_OK {
        success()
    } else {
        fail(lua, &a.strerror(rc))
    }
}

/// The accepted range of a numeric setting, from the core library (one table of
/// bounds for C and Lua callers).
fn config_range(a: &Adaptor, key: &str) -> Result<(u64, u64), String> {
    let name = CString::new(key).map_err(|_| format!("configure: unknown option \"{key}\""))?;
    let (mut lo, mut hi) = (0u64, 0u64);
    // SAFETY: NUL-terminated name and two writable u64s, per the header's contract.
    let rc = unsafe { (a.config_limit)(name.as_ptr(), &mut lo, &mut hi) };
    if rc != RC_OK {
        return Err(format!("configure: unknown option \"{key}\""));
    }
    Ok((lo, hi))
}

/// A non-negative integral Lua number within `lo..=hi` (or 0, "default"), or an
/// error message naming the field and the bounds.
fn config_integer(key: &str, v: &LuaValue, (lo, hi): (u64, u64)) -> Result<u64, String> {
    let n = match v {
        LuaValue::Integer(i) => *i as f64,
        LuaValue::Number(n) => *n,
        other => {
            return Err(format!(
                "{key} must be a non-negative integer, got {}",
                type_name(other)
            ))
        }
    };
    if !n.is_finite() || n < 0.0 || n.fract() != 0.0 {
        return Err(format!("{key} must be a non-negative integer, got {n}"));
    }
    if n != 0.0 && (n < lo as f64 || n > hi as f64) {
        return Err(format!("bad config: {key} must be {lo}..{hi} (got {n})"));
    }
    Ok(n as u64)
}

/// `zmq_logger.configure{...}`.
fn configure(lua: &Lua, a: &Adaptor, opts: LuaValue) -> Ret {
    let t = match opts {
        LuaValue::Table(t) => t,
        other => {
            return fail(
                lua,
                &format!("configure expects a table, got {}", type_name(&other)),
            )
        }
    };
    let mut cfg = AdaptorConfig {
        endpoint: std::ptr::null(),
        queue_records: 0,
        queue_bytes: 0,
        max_record_bytes: 0,
        send_hwm: 0,
        batch_interval_us: 0,
        batch_records: 0,
        linger_ms: 0,
    };
    // SAFETY: cfg is a valid, writable config struct.
    let rc = unsafe { (a.config_init)(&mut cfg) };
    if rc != RC_OK {
        return rc_result(lua, a, rc);
    }
    let mut endpoint: Option<CString> = None;
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = match &k {
            LuaValue::String(s) => s.to_string_lossy().to_string(),
            other => {
                return fail(
                    lua,
                    &format!(
                        "configure: option names must be strings, got {}",
                        type_name(other)
                    ),
                )
            }
        };
        let r: Result<(), String> = match key.as_str() {
            "endpoint" => match &v {
                LuaValue::String(s) => match CString::new(s.as_bytes().to_vec()) {
                    Ok(c) if !c.as_bytes().is_empty() => {
                        endpoint = Some(c);
                        Ok(())
                    }
                    _ => Err("endpoint must be a non-empty string without NUL bytes".into()),
                },
                other => Err(format!(
                    "endpoint must be a string, got {}",
                    type_name(other)
                )),
            },
            // Every bound fits its C field, so the conversions below are exact.
            "queue_records" | "queue_bytes" | "max_record_bytes" | "send_hwm"
            | "batch_interval_us" | "batch_records" | "linger_ms" => config_range(a, &key)
                .and_then(|range| config_integer(&key, &v, range))
                .map(|n| match key.as_str() {
                    "queue_records" => cfg.queue_records = n as usize,
                    "queue_bytes" => cfg.queue_bytes = n as usize,
                    "max_record_bytes" => cfg.max_record_bytes = n as usize,
                    "send_hwm" => cfg.send_hwm = n as u32,
                    "batch_interval_us" => cfg.batch_interval_us = n as u32,
                    "batch_records" => cfg.batch_records = n as u32,
                    _ => cfg.linger_ms = n as u32,
                }),
            _ => Err(format!("configure: unknown option \"{key}\"")),
        };
        if let Err(e) = r {
            return fail(lua, &e);
        }
    }
    if let Some(e) = &endpoint {
        cfg.endpoint = e.as_ptr();
    }
    // SAFETY: cfg is fully initialised; `endpoint` (if any) outlives the call, and the
    // library copies everything it keeps.
    let rc = unsafe { (a.configure)(&cfg) };
    if rc == RC_BAD_CONFIG {
        // Which field, and its bounds (cross-field rules such as max_record_bytes <=
        // queue_bytes are only known to the library).
        let mut msg = [0u8; 256];
        // SAFETY: cfg as above; msg is writable storage of msg.len() bytes.
        let rc2 = unsafe { (a.config_check)(&cfg, msg.as_mut_ptr() as *mut c_char, msg.len()) };
        if rc2 == RC_BAD_CONFIG {
            let text = CStr::from_bytes_until_nul(&msg)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            return fail(lua, &format!("bad config: {text}"));
        }
    }
    rc_result(lua, a, rc)
}

/// `zmq_logger.stats()`.
fn stats(lua: &Lua, a: &Adaptor) -> Ret {
    let mut s = AdaptorStats::default();
    // SAFETY: s is a valid, writable stats struct.
    let rc = unsafe { (a.stats_get)(&mut s) };
    if rc != RC_OK {
        return rc_result(lua, a, rc);
    }
    let t = lua.create_table_with_capacity(0, 12)?;
    let fields: [(&str, u64); 12] = [
        ("enqueued", s.enqueued),
        ("sent", s.sent),
        ("dropped_queue_full", s.dropped_queue_full),
        ("dropped_too_large", s.dropped_too_large),
        ("queue_records", s.queue_records),
        ("queue_bytes", s.queue_bytes),
        ("send_retries", s.send_retries),
        ("peer_subscribed", s.peer_subscribed),
        ("zmq_errors", s.zmq_errors),
        ("delivered", s.delivered),
        ("in_flight", s.in_flight),
        ("undelivered", s.undelivered),
    ];
    for (k, v) in fields {
        t.raw_set(k, v as f64)?;
    }
    ok_value(LuaValue::Table(t))
}

/// `zmq_logger.flush(timeout_seconds)`; default timeout 1 s.
fn flush(lua: &Lua, a: &Adaptor, timeout: LuaValue) -> Ret {
    let secs = match timeout {
        LuaValue::Nil => 1.0,
        LuaValue::Integer(i) => i as f64,
        LuaValue::Number(n) => n,
        other => {
            return fail(
                lua,
                &format!(
                    "flush timeout must be a number of seconds, got {}",
                    type_name(&other)
                ),
            )
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return fail(
            lua,
            "flush timeout must be a non-negative number of seconds",
        );
    }
    let ms = (secs * 1000.0).ceil().min(u32::MAX as f64) as u32;
    // SAFETY: plain value argument; the call blocks at most `ms` milliseconds.
    let rc = unsafe { (a.flush)(ms) };
    rc_result(lua, a, rc)
}

/// Writes `s` as a JSON string; invalid UTF-8 is replaced by U+FFFD so the output is
/// always valid JSON.
fn json_string(out: &mut Vec<u8>, s: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(s);
    serde_json::to_writer(&mut *out, text.as_ref()).map_err(|e| e.to_string())
}

/// Writes a Lua number: integral values without a fraction, non-finite as `null`.
fn json_number(out: &mut Vec<u8>, n: f64) -> Result<(), String> {
    if !n.is_finite() {
        out.extend_from_slice(b"null");
        Ok(())
    } else if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        out.extend_from_slice((n as i64).to_string().as_bytes());
        Ok(())
    } else {
        serde_json::to_writer(&mut *out, &n).map_err(|e| e.to_string())
    }
}

/// The text of a table key as a JSON object key.
fn json_key(k: &LuaValue) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match k {
        LuaValue::String(s) => json_string(&mut out, &s.as_bytes())?,
        LuaValue::Integer(i) => json_string(&mut out, i.to_string().as_bytes())?,
        LuaValue::Number(n) => {
            let mut num = Vec::new();
            json_number(&mut num, *n)?;
            json_string(&mut out, &num)?;
        }
        LuaValue::Boolean(b) => json_string(&mut out, if *b { b"true" } else { b"false" })?,
        other => {
            return Err(format!(
                "cannot encode a table key of type {}",
                type_name(other)
            ))
        }
    }
    Ok(out)
}

/// The array length of `t` if every key is an integer 1..n (n ≥ 1), else None.
fn json_array_len(t: &LuaTable) -> Result<Option<usize>, String> {
    let n = t.raw_len();
    if n == 0 {
        return Ok(None);
    }
    let mut count = 0usize;
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let idx = match k {
            LuaValue::Integer(i) => i as f64,
            LuaValue::Number(f) => f,
            _ => return Ok(None),
        };
        if idx < 1.0 || idx.fract() != 0.0 || idx > n as f64 {
            return Ok(None);
        }
        count += 1;
    }
    Ok(if count == n { Some(n) } else { None })
}

/// Encodes a Lua value as JSON into `out`.
fn json_value(out: &mut Vec<u8>, v: &LuaValue, depth: usize) -> Result<(), String> {
    match v {
        LuaValue::Nil => out.extend_from_slice(b"null"),
        LuaValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        LuaValue::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        LuaValue::Number(n) => json_number(out, *n)?,
        LuaValue::String(s) => json_string(out, &s.as_bytes())?,
        // ngx.null / cjson.null are NULL light userdata.
        LuaValue::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        LuaValue::Table(t) => {
            if depth >= MAX_JSON_DEPTH {
                return Err(format!(
                    "cannot encode a table nested deeper than {MAX_JSON_DEPTH} levels (reference cycle?)"
                ));
            }
            if let Some(n) = json_array_len(t)? {
                out.push(b'[');
                for i in 1..=n {
                    if i > 1 {
                        out.push(b',');
                    }
                    let item: LuaValue = t.raw_get(i).map_err(|e| e.to_string())?;
                    json_value(out, &item, depth + 1)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.pairs::<LuaValue, LuaValue>() {
                    let (k, item) = pair.map_err(|e| e.to_string())?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(&json_key(&k)?);
                    out.push(b':');
                    json_value(out, &item, depth + 1)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(format!(
                "cannot encode a value of type {}",
                type_name(other)
            ))
        }
    }
    Ok(())
}

/// Bytes to send for a record argument: a string as is, a table as JSON.
fn record_bytes(v: &LuaValue, what: &str) -> Result<Vec<u8>, String> {
    match v {
        LuaValue::String(s) => Ok(s.as_bytes().to_vec()),
        LuaValue::Table(_) => {
            let mut out = Vec::with_capacity(256);
            json_value(&mut out, v, 0).map_err(|e| format!("{what}: {e}"))?;
            Ok(out)
        }
        other => Err(format!(
            "{what} must be a string or a table, got {}",
            type_name(other)
        )),
    }
}

/// Builds the module table.
#[mlua::lua_module]
fn zmq_logger(lua: &Lua) -> LuaResult<LuaTable> {
    pin_self();
    let a: &'static Adaptor = load_adaptor().map_err(LuaError::runtime)?;

    let native = lua.create_table()?;
    native.set(
        "configure",
        lua.create_function(move |lua, opts: LuaValue| configure(lua, a, opts))?,
    )?;
    native.set("stats", lua.create_function(move |lua, ()| stats(lua, a))?)?;
    native.set(
        "flush",
        lua.create_function(move |lua, t: LuaValue| flush(lua, a, t))?,
    )?;
    native.set(
        "strerror",
        lua.create_function(move |_, code: LuaValue| {
            let c = match code {
                LuaValue::Integer(i) => i,
                LuaValue::Number(n) if n.fract() == 0.0 => n as i64,
                _ => -1,
            };
            let c = c_int::try_from(c).unwrap_or(-1);
            Ok(a.strerror(c))
        })?,
    )?;
    native.set(
        "encode",
        lua.create_function(|lua, v: LuaValue| match v {
            LuaValue::Table(_) => {
                let mut out = Vec::with_capacity(256);
                match json_value(&mut out, &v, 0) {
                    Ok(()) => ok_value(LuaValue::String(lua.create_string(&out)?)),
                    Err(e) => fail(lua, &e),
                }
            }
            other => fail(
                lua,
                &format!("encode expects a table, got {}", type_name(&other)),
            ),
        })?,
    )?;
    // Slow paths (tables, wrong types) and the no-FFI fallback for strings.
    native.set(
        "log",
        lua.create_function(
            move |lua, rec: LuaValue| match record_bytes(&rec, "record") {
                Ok(bytes) => rc_result(lua, a, a.log(&bytes)),
                Err(e) => fail(lua, &e),
            },
        )?,
    )?;
    native.set(
        "publish",
        lua.create_function(move |lua, (topic, rec): (LuaValue, LuaValue)| {
            let t = match &topic {
                LuaValue::String(s) => s.as_bytes().to_vec(),
                other => {
                    return fail(
                        lua,
                        &format!("topic must be a string, got {}", type_name(other)),
                    )
                }
            };
            match record_bytes(&rec, "record") {
                Ok(bytes) => rc_result(lua, a, a.publish(&t, &bytes)),
                Err(e) => fail(lua, &e),
            }
        })?,
    )?;
    let errors = lua.create_table()?;
    for code in 0..=14 {
        errors.raw_set(code, a.strerror(code))?;
    }
    native.set("errors", errors)?;
    native.set("library", a.path.as_str())?;
    native.set("version", VERSION)?;

    lua.load(LUA_CHUNK)
        .set_name("=zmq_logger")
        .call::<LuaTable>(native)
}

//! C ABI of the adaptor proxy: start with a config → opaque handle; pause, resume,
//! read stats, stop.

use super::{ffi_boundary, try_cstr, try_ref};
use crate::error::zmq_adaptor_result as R;
use crate::proxy::{Proxy, ProxyConfig, ProxyError};
use std::os::raw::{c_char, c_int};
use std::time::Duration;

/// An adaptor proxy running in this process. Opaque; created by
/// `zmq_adaptor_proxy_start`, released by `zmq_adaptor_proxy_stop`.
#[allow(non_camel_case_types)]
pub struct zmq_adaptor_proxy {
    /// The running proxy (taken out on stop).
    inner: Proxy,
}

/// Proxy settings for `zmq_adaptor_proxy_start`. Zero / NULL fields mean "default".
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zmq_adaptor_proxy_config {
    /// XSUB bind endpoint for publishers (default `ipc:///tmp/nginx_queue_listen`).
    pub listen: *const c_char,
    /// XPUB bind endpoint for consumers (default `tcp://127.0.0.1:6001`).
    pub publish: *const c_char,
    /// Receive HWM of the listen side in messages (default 1000000).
    pub listen_hwm: u32,
    /// Send HWM per consumer in messages (default 1000; the backlog holds the rest).
    pub publish_hwm: u32,
    /// Mode for bound IPC socket files, e.g. 0660 (0 = leave as created).
    pub ipc_mode: u32,
    /// Group (name or number) for bound IPC socket files, NUL-terminated; NULL = leave
    /// as created. Borrowed: read during the call. An unknown group gives
    /// `ZMQ_ADAPTOR_ERR_BAD_CONFIG`.
    pub ipc_group: *const c_char,
    /// Linger for messages still queued to consumers at stop, ms (default 1000).
    pub linger_ms: u32,
}

/// Proxy counters: messages and bytes, each side and direction, and the record
/// accounting (`records_received == records_forwarded + records_dropped + records_backlog`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct zmq_adaptor_proxy_stats {
    /// Messages received from publishers.
    pub frontend_msgs_in: u64,
    /// Bytes received from publishers.
    pub frontend_bytes_in: u64,
    /// Messages sent towards publishers (subscriptions).
    pub frontend_msgs_out: u64,
    /// Bytes sent towards publishers.
    pub frontend_bytes_out: u64,
    /// Messages received from consumers (subscriptions).
    pub backend_msgs_in: u64,
    /// Bytes received from consumers.
    pub backend_bytes_in: u64,
    /// Messages sent to consumers.
    pub backend_msgs_out: u64,
    /// Bytes sent to consumers.
    pub backend_bytes_out: u64,
    /// Consumers connected now (0 when not tracked).
    pub subscribers: u64,
    /// Records received (a batch from a worker counts its records; duplicates of
    /// records already received do not count).
    pub records_received: u64,
    /// Records handed to at least one matching consumer.
    pub records_forwarded: u64,
    /// Records received that no consumer got (every reason).
    pub records_dropped: u64,
    /// Records received and not yet forwarded or dropped.
    pub records_backlog: u64,
    /// Records one or more lagging consumers missed while others got them.
    pub consumer_drops: u64,
}

fn err_code(e: &ProxyError) -> R {
    match e {
        ProxyError::BadEndpoint(_) => R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT,
        ProxyError::InUse(_) => R::ZMQ_ADAPTOR_ERR_IN_USE,
        _ => R::ZMQ_ADAPTOR_ERR_ZMQ,
    }
}

/// Starts a forwarding proxy (XSUB on `listen` → XPUB on `publish`) in background
/// threads and stores its handle in `*out`.
///
/// `cfg` is borrowed (NULL = all defaults); `out` must not be NULL
/// (`ZMQ_ADAPTOR_ERR_NULL`). On success the caller owns `*out` and must release it
/// with `zmq_adaptor_proxy_stop`; on failure `*out` is set to NULL and the code says
/// why (`ZMQ_ADAPTOR_ERR_BAD_ENDPOINT`, `ZMQ_ADAPTOR_ERR_IN_USE` when another adaptor
/// or proxy holds an ipc path (of two starting at once exactly one wins),
/// `ZMQ_ADAPTOR_ERR_ZMQ` for another bind failure).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_proxy_start(
    cfg: *const zmq_adaptor_proxy_config,
    out: *mut *mut zmq_adaptor_proxy,
) -> c_int {
    ffi_boundary!({
        if out.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        // SAFETY: out is non-null and points to writable storage for one pointer.
        unsafe { out.write(std::ptr::null_mut()) };
        let mut pc = ProxyConfig::default();
        if !cfg.is_null() {
            let c = try_ref!(cfg);
            if !c.listen.is_null() {
                pc.listen = try_cstr!(c.listen, R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT).to_string();
            }
            if !c.publish.is_null() {
                pc.publish = try_cstr!(c.publish, R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT).to_string();
            }
            if c.listen_hwm > 0 {
                pc.listen_hwm = c.listen_hwm.min(i32::MAX as u32) as i32;
            }
            if c.publish_hwm > 0 {
                pc.publish_hwm = c.publish_hwm.min(i32::MAX as u32) as i32;
            }
            if c.ipc_mode > 0 {
                pc.ipc_mode = Some(c.ipc_mode);
            }
            if !c.ipc_group.is_null() {
                let g = try_cstr!(c.ipc_group, R::ZMQ_ADAPTOR_ERR_BAD_CONFIG);
                match crate::adaptor::group_id(g) {
                    Some(gid) => pc.ipc_group = Some(gid),
                    None => return R::ZMQ_ADAPTOR_ERR_BAD_CONFIG as c_int,
                }
            }
            if c.linger_ms > 0 {
                pc.linger = Duration::from_millis(c.linger_ms as u64);
            }
        }
        match Proxy::start(&pc, None, None) {
            Ok(p) => {
                let h = Box::into_raw(Box::new(zmq_adaptor_proxy { inner: p }));
                // SAFETY: as above.
                unsafe { out.write(h) };
                R::ZMQ_ADAPTOR_OK as c_int
            }
            Err(e) => err_code(&e) as c_int,
        }
    })
}

/// Pauses forwarding (messages wait up to the HWMs). `proxy` is borrowed; NULL gives
/// `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_proxy_pause(proxy: *const zmq_adaptor_proxy) -> c_int {
    ffi_boundary!({
        let p = try_ref!(proxy);
        match p.inner.pause() {
            Ok(()) => R::ZMQ_ADAPTOR_OK as c_int,
            Err(e) => err_code(&e) as c_int,
        }
    })
}

/// Resumes forwarding after a pause. `proxy` is borrowed; NULL gives
/// `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_proxy_resume(proxy: *const zmq_adaptor_proxy) -> c_int {
    ffi_boundary!({
        let p = try_ref!(proxy);
        match p.inner.resume() {
            Ok(()) => R::ZMQ_ADAPTOR_OK as c_int,
            Err(e) => err_code(&e) as c_int,
        }
    })
}

/// Fills `out` with the proxy's counters (waits at most 1 s for the proxy thread).
/// Both pointers are borrowed; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
#[no_mangle]
pub extern "C" fn zmq_adaptor_proxy_stats_get(
    proxy: *const zmq_adaptor_proxy,
    out: *mut zmq_adaptor_proxy_stats,
) -> c_int {
    ffi_boundary!({
        let p = try_ref!(proxy);
        if out.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        match p.inner.stats() {
            Ok(s) => {
                let a = p.inner.accounting();
                let r = a.snapshot();
                let v = zmq_adaptor_proxy_stats {
                    frontend_msgs_in: s.frontend_msgs_in,
                    frontend_bytes_in: s.frontend_bytes_in,
                    frontend_msgs_out: s.frontend_msgs_out,
                    frontend_bytes_out: s.frontend_bytes_out,
                    backend_msgs_in: s.backend_msgs_in,
                    backend_bytes_in: s.backend_bytes_in,
                    backend_msgs_out: s.backend_msgs_out,
                    backend_bytes_out: s.backend_bytes_out,
                    subscribers: p.inner.subscribers(),
                    records_received: r.received,
                    records_forwarded: r.forwarded,
                    records_dropped: r.dropped_total(),
                    records_backlog: r.backlog,
                    consumer_drops: a.consumer_drops.load(std::sync::atomic::Ordering::Relaxed),
                };
                // SAFETY: out is non-null and writable per the contract.
                unsafe { out.write(v) };
                R::ZMQ_ADAPTOR_OK as c_int
            }
            Err(e) => err_code(&e) as c_int,
        }
    })
}

/// Stops the proxy, closes its sockets and frees the handle. Takes ownership of
/// `proxy`: do not use it afterwards. NULL is a no-op returning
/// `ZMQ_ADAPTOR_ERR_NULL`. Returns within the configured linger. Not to be called
/// concurrently with other calls on the same handle.
#[no_mangle]
pub extern "C" fn zmq_adaptor_proxy_stop(proxy: *mut zmq_adaptor_proxy) -> c_int {
    ffi_boundary!({
        if proxy.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        // SAFETY: non-null handle created by Box::into_raw in proxy_start; the caller
        // gives up ownership here.
        let b = unsafe { Box::from_raw(proxy) };
        b.inner.stop();
        R::ZMQ_ADAPTOR_OK as c_int
    })
}

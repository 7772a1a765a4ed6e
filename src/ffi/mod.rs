//! The C ABI. One file per C object: [`logger`] (the per-process logger),
//! [`proxy`] (the adaptor proxy handle), [`log`] (the library's log callback) and
//! [`curve`] (CURVE keys read from certificate files). Every export runs inside
//! `ffi_boundary!`, so no panic crosses into C, and checks pointers with
//! `try_ref!`/`try_slice!` before use.
//!
//! The exports are safe `extern "C"` functions taking raw pointers: C callers have no
//! `unsafe`, so each function checks for NULL and documents what else it relies on.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod curve;
pub mod log;
pub mod logger;
pub mod proxy;

/// Runs the body, turning a panic into `ZMQ_ADAPTOR_ERR_PANIC` (or the given value).
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $on_panic,
        }
    }};
    ($body:block) => {
        ffi_boundary!(
            $crate::error::zmq_adaptor_result::ZMQ_ADAPTOR_ERR_PANIC as std::os::raw::c_int,
            $body
        )
    };
}

/// `&T` from a C pointer, or return `ZMQ_ADAPTOR_ERR_NULL`.
macro_rules! try_ref {
    ($ptr:expr) => {{
        let p = $ptr;
        if p.is_null() {
            return $crate::error::zmq_adaptor_result::ZMQ_ADAPTOR_ERR_NULL as std::os::raw::c_int;
        }
        // SAFETY: non-null, and the exported function's contract says it points to a
        // valid, initialised object for the duration of the call.
        unsafe { &*p }
    }};
}

/// `&[u8]` from a C pointer and length, or return `ZMQ_ADAPTOR_ERR_NULL`.
/// A NULL pointer with length 0 is the empty slice. A length no object can have
/// (over `isize::MAX`, or past the end of the address space) returns
/// `ZMQ_ADAPTOR_ERR_TOO_LARGE` before any slice is built.
macro_rules! try_slice {
    ($ptr:expr, $len:expr) => {{
        let (p, n): (*const u8, usize) = ($ptr, $len);
        if n > isize::MAX as usize || (p as usize).checked_add(n).is_none() {
            return $crate::error::zmq_adaptor_result::ZMQ_ADAPTOR_ERR_TOO_LARGE
                as std::os::raw::c_int;
        }
        if p.is_null() {
            if n == 0 {
                &[][..]
            } else {
                return $crate::error::zmq_adaptor_result::ZMQ_ADAPTOR_ERR_NULL
                    as std::os::raw::c_int;
            }
        } else {
            // SAFETY: non-null; the caller guarantees `n` readable bytes at `p`
            // for the duration of the call (documented on every export).
            unsafe { std::slice::from_raw_parts(p, n) }
        }
    }};
}

/// `&str` from a NUL-terminated C string, or return the given error code.
macro_rules! try_cstr {
    ($ptr:expr, $on_bad:expr) => {{
        let p = $ptr;
        if p.is_null() {
            return $crate::error::zmq_adaptor_result::ZMQ_ADAPTOR_ERR_NULL as std::os::raw::c_int;
        }
        // SAFETY: non-null and NUL-terminated per the export's contract.
        match unsafe { std::ffi::CStr::from_ptr(p) }.to_str() {
            Ok(s) => s,
            Err(_) => return $on_bad as std::os::raw::c_int,
        }
    }};
}

pub(crate) use {ffi_boundary, try_cstr, try_ref, try_slice};

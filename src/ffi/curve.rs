//! C ABI of CURVE certificate files: the keys a worker needs, read from the files
//! `zmq-adaptor keygen` writes, so a C host (the nginx module) keeps the secret key
//! in a file only its master can read rather than in its configuration text.

use super::ffi_boundary;
use crate::error::zmq_adaptor_result as R;
use crate::security::{self, cert::Z85_KEY_LEN};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;

/// CURVE keys in the form `zmq_adaptor_config`'s `curve_*` fields take: 40 Z85
/// characters and a NUL each.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zmq_adaptor_curve_keys {
    /// The adaptor's public key (its `NAME.key` certificate): `curve_server_key`.
    pub server_key: [c_char; 41],
    /// This worker's public key: `curve_public_key`.
    pub public_key: [c_char; 41],
    /// This worker's secret key: `curve_secret_key`. Wipe it when done.
    pub secret_key: [c_char; 41],
}

/// Copies a Z85 key and its NUL into `dst`.
fn put(dst: &mut [c_char; 41], z85: &[u8]) {
    for (d, s) in dst.iter_mut().zip(z85.iter().take(Z85_KEY_LEN)) {
        *d = *s as c_char;
    }
    dst[Z85_KEY_LEN] = 0;
}

/// Writes `msg` into the caller's buffer, truncated and NUL-terminated.
fn put_error(err: *mut c_char, err_len: usize, msg: &str) {
    if err.is_null() || err_len == 0 {
        return;
    }
    let n = msg.len().min(err_len - 1);
    // SAFETY: the caller gives `err_len` writable bytes at `err`; we write `n + 1 <=
    // err_len` of them.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr() as *const c_char, err, n);
        *err.add(n) = 0;
    }
}

/// Reads the adaptor's public certificate `server_cert` (`NAME.key`, or the public
/// half of any certificate) and this worker's secret certificate `secret_cert`
/// (`NAME.key_secret`) into `keys`, ready for `zmq_adaptor_config`'s three
/// `curve_*` fields (point them at the arrays).
///
/// The secret certificate is refused when group or others have any permission on
/// it, when it holds no secret key, or when its public key does not belong to its
/// secret key: `ZMQ_ADAPTOR_ERR_BAD_KEY`, as for an unreadable or malformed file.
/// Then `err` (when not NULL and `err_len` > 0) receives a NUL-terminated reason
/// naming the file (never a key); `keys` is left unchanged. NULL paths or `keys`:
/// `ZMQ_ADAPTOR_ERR_NULL`.
///
/// The paths are borrowed NUL-terminated strings; `keys` and `err` are caller-owned.
/// Reads two small files and does nothing else: thread-safe, safe before `fork`.
#[no_mangle]
pub extern "C" fn zmq_adaptor_curve_keys_load(
    server_cert: *const c_char,
    secret_cert: *const c_char,
    keys: *mut zmq_adaptor_curve_keys,
    err: *mut c_char,
    err_len: usize,
) -> c_int {
    ffi_boundary!({
        if server_cert.is_null() || secret_cert.is_null() || keys.is_null() {
            return R::ZMQ_ADAPTOR_ERR_NULL as c_int;
        }
        let path = |p: *const c_char| {
            // SAFETY: non-null, and the contract says a NUL-terminated string.
            let s = unsafe { std::ffi::CStr::from_ptr(p) };
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(s.to_bytes()))
        };
        let loaded = security::load_public(&path(server_cert))
            .and_then(|server| security::load_secret(&path(secret_cert)).map(|k| (server, k)));
        match loaded {
            Ok((server, pair)) => {
                let mut out = zmq_adaptor_curve_keys {
                    server_key: [0; 41],
                    public_key: [0; 41],
                    secret_key: [0; 41],
                };
                put(&mut out.server_key, server.to_z85().as_bytes());
                put(&mut out.public_key, pair.public.to_z85().as_bytes());
                let mut secret = pair.secret.to_z85_secret().into_bytes();
                put(&mut out.secret_key, &secret);
                secret.iter_mut().for_each(|b| *b = 0);
                // SAFETY: non-null, and the caller gives storage for one struct.
                unsafe { keys.write(out) };
                out.secret_key.iter_mut().for_each(|b| *b = 0);
                R::ZMQ_ADAPTOR_OK as c_int
            }
            Err(e) => {
                put_error(err, err_len, &e.to_string());
                R::ZMQ_ADAPTOR_ERR_BAD_KEY as c_int
            }
        }
    })
}

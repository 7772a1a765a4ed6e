//! Security: CURVE encryption and authentication for the adaptor's tcp sockets, a ZAP
//! handler that decides who may connect, and safe defaults for IPC socket files.
//!
//! * [`cert`]: CURVE keys (Z85 text, 40 characters) and certificate files in ZeroMQ's
//!   own format (`NAME.key` / `NAME.key_secret`, as czmq's `zcert` and pyzmq's
//!   `zmq.auth.create_certificates` write them), [`keygen`] and the loaders.
//! * [`zap`]: a ZAP handler (ZeroMQ RFC 27) admitting CURVE clients whose public key
//!   has a certificate in a directory (reloadable), or any CURVE client, restricted to
//!   an address allow-list of CIDRs; refusals are counted and logged at most once a
//!   second.
//! * [`socket`]: one call to make a bound socket a CURVE server ([`apply_server`]) or a
//!   connecting socket a CURVE client ([`apply_client`]).
//! * [`ipc`]: refusal of squatted IPC socket paths and the default socket file mode.
//!
//! Secret keys never appear in `Debug` output or error messages.

pub mod cert;
pub mod ipc;
pub mod socket;
pub mod zap;

pub use cert::{
    keygen, load_client_dir, load_public, load_secret, ClientKeyDir, KeyPair, PublicKey, SecretKey,
};
pub use ipc::{check_ipc_path, world_writable_warning, DEFAULT_IPC_MODE};
pub use socket::{apply_client, apply_server, ClientKeys, ProxySecurity, ServerSecurity};
pub use zap::{
    parse_cidr, AuthReporter, CurvePolicy, Guard, LogSink, ZapHandler, ZapPolicy, ZAP_ENDPOINT,
};

use std::path::{Path, PathBuf};

/// Why a key, a certificate, a policy or an IPC path was refused. Every message names
/// the file or value concerned and what to do; none contains a secret key.
#[derive(Debug)]
pub enum SecurityError {
    /// The file or directory does not exist.
    Missing(PathBuf),
    /// The file or directory exists but could not be read.
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        err: std::io::Error,
    },
    /// The file is not a certificate we can use.
    Malformed {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A secret certificate that users other than its owner can read or write.
    TooOpen {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file that must not be overwritten already exists.
    Exists(PathBuf),
    /// A key directory others can write (anyone could add a key).
    InsecureDir {
        /// The directory.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A key given as text is not a valid Z85 CURVE key.
    BadKey {
        /// Which key ("curve_server_key", …).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An address allow-list entry is not an IP address or CIDR.
    BadCidr(String),
    /// An IPC socket path another user could take over or has taken over.
    UnsafeIpcPath {
        /// The path checked.
        path: PathBuf,
        /// Why it is unsafe.
        reason: String,
    },
    /// Writing a file or creating a directory failed.
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        err: std::io::Error,
    },
    /// libzmq refused an option or a bind (e.g. a second ZAP handler in one context).
    Zmq {
        /// What was being done.
        what: String,
        /// libzmq's error.
        err: zmq::Error,
    },
}

impl std::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecurityError::Missing(p) => write!(f, "{}: no such file or directory", p.display()),
            SecurityError::Unreadable { path, err } => {
                write!(f, "{}: cannot read: {err}", path.display())
            }
            SecurityError::Malformed { path, reason } => write!(
                f,
                "{}: not a ZeroMQ CURVE certificate: {reason}",
                path.display()
            ),
            SecurityError::TooOpen { path, mode } => write!(
                f,
                "{}: secret certificate has mode {mode:04o}, readable or writable by group/others; \
                 refusing to use it (run: chmod 600 {})",
                path.display(),
                path.display()
            ),
            SecurityError::Exists(p) => write!(
                f,
                "{}: already exists; refusing to overwrite a certificate",
                p.display()
            ),
            SecurityError::InsecureDir { path, reason } => {
                write!(f, "{}: refusing key directory: {reason}", path.display())
            }
            SecurityError::BadKey { what, reason } => write!(f, "{what}: {reason}"),
            SecurityError::BadCidr(s) => write!(
                f,
                "'{s}' is not an IP address or CIDR (e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)"
            ),
            SecurityError::UnsafeIpcPath { path, reason } => {
                write!(f, "refusing ipc socket path {}: {reason}", path.display())
            }
            SecurityError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            SecurityError::Zmq { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for SecurityError {}

/// Maps an I/O error on `path` to Missing or Unreadable.
fn read_error(path: &Path, err: std::io::Error) -> SecurityError {
    if err.kind() == std::io::ErrorKind::NotFound {
        SecurityError::Missing(path.to_path_buf())
    } else {
        SecurityError::Unreadable {
            path: path.to_path_buf(),
            err,
        }
    }
}

/// This process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

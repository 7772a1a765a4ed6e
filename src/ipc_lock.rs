//! One owner per ipc socket path, race-free: an advisory lock on `PATH.lock`.
//!
//! libzmq binds an ipc endpoint by unlinking whatever file is at the path and
//! binding a new socket there, so two processes (or two proxies in one process)
//! starting at the same instant can both "succeed" and one of them ends up serving a
//! path nobody reaches. Before binding, a proxy takes `flock(LOCK_EX | LOCK_NB)` on
//! `PATH.lock` and holds it for its lifetime; the kernel releases it when the proxy
//! stops or its process dies (even on SIGKILL), so a crashed owner never blocks a
//! restart. The lock file stays on disk (removing it would reopen the race).
//!
//! The lock file is opened with `O_NOFOLLOW` (no symlink games in shared
//! directories such as /tmp), created `0600`, must be a regular file owned by this
//! user, and is made `0600` if it was looser, so nobody else can hold it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an ipc path could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another proxy (in this or another process) holds the path.
    Held(PathBuf),
    /// The lock file cannot be used (missing directory, wrong owner, not a file…).
    Unusable(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held(p) => write!(
                f,
                "{} is held by another running adaptor or proxy (lock {}.lock); refusing to steal it",
                p.display(),
                p.display()
            ),
            LockError::Unusable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LockError {}

/// A held lock on one ipc path; released when dropped.
#[derive(Debug)]
pub struct IpcLock {
    /// The open lock file; closing it releases the flock.
    _file: File,
}

/// The lock file of the ipc socket at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Takes the lock of the ipc socket path `path` (not `ipc://` endpoint text), or
/// says why not. Never blocks.
pub fn acquire(path: &Path) -> Result<IpcLock, LockError> {
    let lp = lock_path(path);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        if !d.is_dir() {
            return Err(LockError::Unusable(format!(
                "cannot bind ipc://{}: directory {} does not exist",
                path.display(),
                d.display()
            )));
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&lp)
        .map_err(|e| LockError::Unusable(format!("lock file {}: {e}", lp.display())))?;
    let meta = file
        .metadata()
        .map_err(|e| LockError::Unusable(format!("lock file {}: {e}", lp.display())))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.file_type().is_file() {
        return Err(LockError::Unusable(format!(
            "lock file {} is not a regular file",
            lp.display()
        )));
    }
    if meta.uid() != me {
        return Err(LockError::Unusable(format!(
            "lock file {} belongs to uid {}, not to this user (uid {me}); remove it if it is stale",
            lp.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LockError::Unusable(format!("chmod 0600 {}: {e}", lp.display())))?;
    }
    // SAFETY: a valid open descriptor owned by `file`.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            LockError::Held(path.to_path_buf())
        } else {
            LockError::Unusable(format!("flock {}: {e}", lp.display()))
        });
    }
    Ok(IpcLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sock");
        let a = acquire(&p).unwrap();
        // flock locks belong to the open file description: a second open in the same
        // process conflicts too.
        assert!(matches!(acquire(&p), Err(LockError::Held(_))));
        drop(a);
        let _b = acquire(&p).unwrap();
        let m = std::fs::metadata(lock_path(&p)).unwrap();
        assert_eq!(m.mode() & 0o777, 0o600);
    }

    #[test]
    fn refuses_symlinks_missing_directories_and_loose_modes_are_tightened() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("victim");
        std::fs::write(&target, b"keep").unwrap();
        let p = d.path().join("sock");
        std::os::unix::fs::symlink(&target, lock_path(&p)).unwrap();
        let e = acquire(&p).unwrap_err().to_string();
        assert!(e.contains("lock file"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");

        let e = acquire(&d.path().join("nope/sock"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");

        let q = d.path().join("q");
        std::fs::write(lock_path(&q), b"").unwrap();
        std::fs::set_permissions(lock_path(&q), std::fs::Permissions::from_mode(0o666)).unwrap();
        let _l = acquire(&q).unwrap();
        let m = std::fs::metadata(lock_path(&q)).unwrap();
        assert_eq!(m.mode() & 0o777, 0o600);
    }
}

//! IPC socket files: no squatting, no world-writable sockets by default.
//!
//! Whoever can write an IPC socket file can connect to it, so the adaptor's listen
//! socket decides who may inject records. And whoever can create or replace the file
//! before the adaptor binds (a squatter in `/tmp` after a reboot, anyone who can write
//! the directory) receives what the workers send. [`check_ipc_path`] refuses both.

use super::SecurityError;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Mode of IPC socket files the adaptor binds when `--ipc-mode` is not given:
/// owner and group (`--ipc-group`) may connect, others may not.
pub const DEFAULT_IPC_MODE: u32 = 0o660;

const STICKY: u32 = 0o1000;

/// A warning when `mode` lets every local user connect (and so inject records);
/// `None` for modes without the world-write bit.
pub fn world_writable_warning(mode: u32) -> Option<String> {
    (mode & 0o002 != 0).then(|| {
        format!(
            "ipc socket mode {mode:04o} lets every local user connect and inject records; \
             prefer 0660 with --ipc-group <the workers' group>"
        )
    })
}

fn unsafe_path(path: &Path, reason: String) -> SecurityError {
    SecurityError::UnsafeIpcPath {
        path: path.to_path_buf(),
        reason,
    }
}

/// Checks that binding an IPC socket at `path` as user `my_uid` cannot be hijacked:
///
/// * an existing file at `path` (socket or not) owned by another user is refused
///   (squatting), as is an existing file of ours that is not a socket;
/// * every directory above it must be writable only by `my_uid` or root, unless it
///   has the sticky bit (as `/tmp` has): otherwise another user could replace the
///   socket file after the bind.
///
/// A stale socket of our own is fine (the bind replaces it).
pub fn check_ipc_path(path: &Path, my_uid: u32) -> Result<(), SecurityError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(parent)
        .map_err(|e| unsafe_path(path, format!("directory {}: {e}", parent.display())))?;
    let mut d = Some(dir.as_path());
    while let Some(cur) = d {
        let m = std::fs::metadata(cur)
            .map_err(|e| unsafe_path(path, format!("directory {}: {e}", cur.display())))?;
        let mode = m.mode() & 0o7777;
        let sticky = mode & STICKY != 0;
        let who = if mode & 0o002 != 0 && !sticky {
            Some("every user".to_string())
        } else if mode & 0o020 != 0 && !sticky {
            Some(format!("group {}", m.gid()))
        } else if m.uid() != my_uid && m.uid() != 0 && mode & 0o200 != 0 {
            Some(format!("its owner, uid {}", m.uid()))
        } else {
            None
        };
        if let Some(who) = who {
            return Err(unsafe_path(
                path,
                format!(
                    "directory {} (mode {mode:04o}, uid {}) can be written by {who}, who could \
                     replace the socket; use a directory only this user can write, e.g. \
                     /run/zmq-adaptor (systemd RuntimeDirectory=zmq-adaptor)",
                    cur.display(),
                    m.uid()
                ),
            ));
        }
        d = cur.parent();
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.uid() != my_uid => Err(unsafe_path(
            path,
            format!(
                "it already exists and belongs to uid {} (we are uid {my_uid}): another user \
                 may be squatting the path; remove it after checking who created it",
                m.uid()
            ),
        )),
        Ok(m) if !m.file_type().is_socket() => Err(unsafe_path(
            path,
            "it already exists and is not a socket; refusing to replace it".into(),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(unsafe_path(path, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(mode: u32) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }

    #[test]
    fn directories_others_can_write_are_refused_unless_sticky() {
        let me = super::super::effective_uid();
        let ok = dir(0o755);
        check_ipc_path(&ok.path().join("s"), me).unwrap();
        let open = dir(0o777);
        let e = check_ipc_path(&open.path().join("s"), me).unwrap_err();
        assert!(e.to_string().contains("every user"), "{e}");
        let group = dir(0o775);
        let e = check_ipc_path(&group.path().join("s"), me).unwrap_err();
        assert!(e.to_string().contains("group"), "{e}");
        let sticky = dir(0o1777);
        check_ipc_path(&sticky.path().join("s"), me).unwrap();
    }

    #[test]
    fn an_existing_non_socket_is_refused() {
        let me = super::super::effective_uid();
        let d = dir(0o755);
        let p = d.path().join("s");
        std::fs::write(&p, b"x").unwrap();
        let e = check_ipc_path(&p, me).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
        // Seen as another user, the same file is a squatter's (as root, the directory
        // is ours to share; otherwise its owner is already refused).
        let e = check_ipc_path(&p, me + 1).unwrap_err();
        if me == 0 {
            assert!(e.to_string().contains("squatting"), "{e}");
        }
    }

    #[test]
    fn world_writable_modes_are_flagged() {
        assert!(world_writable_warning(0o666).is_some());
        assert!(world_writable_warning(DEFAULT_IPC_MODE).is_none());
    }
}

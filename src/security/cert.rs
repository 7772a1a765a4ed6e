//! CURVE keys and certificate files in ZeroMQ's own text format.
//!
//! A certificate is a small ZPL file (ZeroMQ RFC 4) as czmq's `zcert` and pyzmq's
//! `zmq.auth.create_certificates` write it:
//!
//! ```text
//! #   ZeroMQ CURVE **Secret** Certificate
//! metadata
//! curve
//!     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//!     secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//! ```
//!
//! `NAME.key` holds only `public-key` and may be handed out; `NAME.key_secret` holds
//! both and must stay private (mode 0600: [`load_secret`] refuses anything more open).

use super::{read_error, SecurityError};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The Z85 alphabet (ZeroMQ RFC 32).
const Z85_ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
/// Length of a CURVE key in Z85 text.
pub const Z85_KEY_LEN: usize = 40;
/// Largest certificate file read (real ones are a few hundred bytes).
const MAX_CERT_BYTES: u64 = 64 << 10;

extern "C" {
    // libzmq ≥ 4.2 (zmq.h); the zmq-sys crate declares but does not re-export it.
    fn zmq_curve_public(
        z85_public_key: *mut std::os::raw::c_char,
        z85_secret_key: *const std::os::raw::c_char,
    ) -> std::os::raw::c_int;
}

/// Decodes a 40-character Z85 key into its 32 bytes; the error says what is wrong.
fn decode_z85_key(text: &str) -> Result<[u8; 32], String> {
    if text.len() != Z85_KEY_LEN {
        return Err(format!(
            "a CURVE key is {Z85_KEY_LEN} Z85 characters, this one has {}",
            text.chars().count()
        ));
    }
    // The position only: the text may be a secret key.
    if let Some(i) = text
        .chars()
        .position(|c| !c.is_ascii() || !Z85_ALPHABET.contains(&(c as u8)))
    {
        return Err(format!("character {} is not in the Z85 alphabet", i + 1));
    }
    let c = std::ffi::CString::new(text).map_err(|_| "contains a NUL byte".to_string())?;
    let mut out = [0u8; 32];
    // SAFETY: `c` is a NUL-terminated string of 40 characters; libzmq writes 40*4/5 =
    // 32 bytes into `out`, which has room for exactly that.
    let rc = unsafe { zmq_sys::zmq_z85_decode(out.as_mut_ptr(), c.as_ptr()) };
    if rc.is_null() {
        return Err("not a valid Z85 encoding (a 5-character group overflows 32 bits)".into());
    }
    Ok(out)
}

fn encode_z85(key: &[u8; 32]) -> String {
    // 32 bytes is a multiple of 4: encoding cannot fail.
    zmq::z85_encode(key).unwrap_or_default()
}

/// A CURVE public key (32 bytes). Shown as its Z85 text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses a 40-character Z85 key; `what` names it in the error
    /// (e.g. `"curve_server_key"`).
    pub fn from_z85(what: &str, text: &str) -> Result<PublicKey, SecurityError> {
        decode_z85_key(text.trim())
            .map(PublicKey)
            .map_err(|reason| SecurityError::BadKey {
                what: what.to_string(),
                reason,
            })
    }

    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The 32 raw bytes (what libzmq's socket options and ZAP credentials carry).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 text.
    pub fn to_z85(&self) -> String {
        encode_z85(&self.0)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_z85())
    }
}

/// A CURVE secret key (32 bytes). Never printed: `Debug` shows only `<redacted>`, and
/// the bytes are overwritten when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Parses a 40-character Z85 key; `what` names it in the error. The error never
    /// repeats the key.
    pub fn from_z85(what: &str, text: &str) -> Result<SecretKey, SecurityError> {
        decode_z85_key(text.trim())
            .map(SecretKey)
            .map_err(|reason| SecurityError::BadKey {
                what: what.to_string(),
                reason,
            })
    }

    /// The 32 raw bytes, for libzmq's `ZMQ_CURVE_SECRETKEY`.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 40 Z85 characters, for the C ABI's `curve_secret_key` (the caller
    /// wipes the string when done with it).
    pub(crate) fn to_z85_secret(&self) -> String {
        encode_z85(&self.0)
    }

    /// The public key that belongs to this secret key (libzmq's `zmq_curve_public`).
    pub fn public(&self) -> Result<PublicKey, SecurityError> {
        let mut secret = encode_z85(&self.0).into_bytes();
        secret.push(0);
        let mut public = [0u8; Z85_KEY_LEN + 1];
        // SAFETY: `secret` is 40 Z85 characters plus NUL; libzmq writes 40 characters
        // plus NUL into `public`, which has room for exactly that.
        let rc = unsafe {
            zmq_curve_public(
                public.as_mut_ptr() as *mut std::os::raw::c_char,
                secret.as_ptr() as *const std::os::raw::c_char,
            )
        };
        secret.iter_mut().for_each(|b| *b = 0);
        if rc != 0 {
            return Err(SecurityError::Zmq {
                what: "deriving a CURVE public key (is libzmq built with CURVE?)".into(),
                err: zmq::Error::from_raw(
                    // SAFETY: zmq_errno only reads libzmq's thread-local errno.
                    unsafe { zmq_sys::zmq_errno() },
                ),
            });
        }
        let text = std::str::from_utf8(&public[..Z85_KEY_LEN]).unwrap_or("");
        PublicKey::from_z85("derived public key", text)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference into our own array;
            // the volatile write keeps the compiler from eliding the wipe.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// A public key with its secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The public half (shareable).
    pub public: PublicKey,
    /// The secret half.
    pub secret: SecretKey,
}

impl KeyPair {
    /// A fresh random key pair (libzmq's `zmq_curve_keypair`, libsodium underneath).
    pub fn generate() -> Result<KeyPair, SecurityError> {
        let p = zmq::CurveKeyPair::new().map_err(|err| SecurityError::Zmq {
            what: "generating a CURVE key pair (is libzmq built with CURVE?)".into(),
            err,
        })?;
        Ok(KeyPair {
            public: PublicKey(p.public_key),
            secret: SecretKey(p.secret_key),
        })
    }
}

/// What a certificate file holds.
#[derive(Debug)]
struct Parsed {
    public: PublicKey,
    secret: Option<SecretKey>,
}

/// Strips one pair of matching quotes around a ZPL value.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Parses the text of a certificate: `public-key` (required) and `secret-key`
/// (optional) in the top-level `curve` section; comments, `metadata` and other
/// sections are skipped.
fn parse(path: &Path, text: &str) -> Result<Parsed, SecurityError> {
    let malformed = |reason: String| SecurityError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut section = String::new();
    let (mut public, mut secret): (Option<PublicKey>, Option<SecretKey>) = (None, None);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indented = line.len() != line.trim_start().len();
        let (name, value) = match content.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v))),
            None => (content, None),
        };
        if !indented {
            section = name.to_string();
            continue;
        }
        if section != "curve" {
            continue;
        }
        let lineno = n + 1;
        match (name, value) {
            ("public-key", Some(v)) => {
                if public.is_some() {
                    return Err(malformed(format!("line {lineno}: second public-key")));
                }
                public = Some(
                    PublicKey::from_z85("public-key", v)
                        .map_err(|e| malformed(format!("line {lineno}: {e}")))?,
                );
            }
            ("secret-key", Some(v)) => {
                if secret.is_some() {
                    return Err(malformed(format!("line {lineno}: second secret-key")));
                }
                secret = Some(
                    SecretKey::from_z85("secret-key", v)
                        .map_err(|e| malformed(format!("line {lineno}: {e}")))?,
                );
            }
            ("public-key" | "secret-key", None) => {
                return Err(malformed(format!("line {lineno}: {name} without a value")));
            }
            _ => {}
        }
    }
    let public = public.ok_or_else(|| {
        malformed("no public-key in a 'curve' section (expected `curve` then `    public-key = \"<40 Z85 characters>\"`)".into())
    })?;
    Ok(Parsed { public, secret })
}

/// Reads a certificate file (bounded), returning its text and metadata.
fn read_cert(path: &Path) -> Result<(String, std::fs::Metadata), SecurityError> {
    let f = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let meta = f.metadata().map_err(|e| read_error(path, e))?;
    if !meta.is_file() {
        return Err(SecurityError::Malformed {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    let mut bytes = Vec::new();
    f.take(MAX_CERT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(path, e))?;
    if bytes.len() as u64 > MAX_CERT_BYTES {
        return Err(SecurityError::Malformed {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_CERT_BYTES} bytes"),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| SecurityError::Malformed {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    Ok((text, meta))
}

/// Loads the public key of a certificate (`NAME.key`, or the public half of a
/// `NAME.key_secret`).
pub fn load_public(path: &Path) -> Result<PublicKey, SecurityError> {
    let (text, _) = read_cert(path)?;
    Ok(parse(path, &text)?.public)
}

/// Loads a secret certificate (`NAME.key_secret`). Refused when group or others have
/// any permission on it, when it has no `secret-key`, or when its `public-key` does
/// not belong to its `secret-key`.
pub fn load_secret(path: &Path) -> Result<KeyPair, SecurityError> {
    let (text, meta) = read_cert(path)?;
    let parsed = parse(path, &text)?;
    let secret = parsed.secret.ok_or_else(|| SecurityError::Malformed {
        path: path.to_path_buf(),
        reason: "no secret-key: this is a public certificate; give the NAME.key_secret file".into(),
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecurityError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    if secret.public()? != parsed.public {
        return Err(SecurityError::Malformed {
            path: path.to_path_buf(),
            reason: "its public-key does not belong to its secret-key".into(),
        });
    }
    Ok(KeyPair {
        public: parsed.public,
        secret,
    })
}

/// The public keys of every `*.key` certificate in a directory, with the name of the
/// file each came from (without `.key`).
#[derive(Debug, Clone, Default)]
pub struct ClientKeyDir {
    /// Public key → certificate name.
    pub keys: HashMap<PublicKey, String>,
}

impl ClientKeyDir {
    /// How many distinct keys were loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key was loaded (nobody will be admitted).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Loads every `*.key` certificate in `dir` (as czmq and pyzmq do; hidden files and
/// `*.key_secret` files are skipped). All or nothing: one malformed file fails the
/// whole load, naming the file. A directory that others may write is refused (anyone
/// could add a key).
pub fn load_client_dir(dir: &Path) -> Result<ClientKeyDir, SecurityError> {
    let meta = std::fs::metadata(dir).map_err(|e| read_error(dir, e))?;
    if !meta.is_dir() {
        return Err(SecurityError::Unreadable {
            path: dir.to_path_buf(),
            err: std::io::Error::other(
                "not a directory (--curve-clients wants a directory of NAME.key files)",
            ),
        });
    }
    if meta.mode() & 0o002 != 0 {
        return Err(SecurityError::InsecureDir {
            path: dir.to_path_buf(),
            reason: format!(
                "mode {:04o}: any user could add a client key (run: chmod o-w {})",
                meta.mode() & 0o7777,
                dir.display()
            ),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|e| read_error(dir, e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| read_error(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".key") {
            continue;
        }
        paths.push(e.path());
    }
    paths.sort();
    let mut out = ClientKeyDir::default();
    for p in paths {
        let key = load_public(&p)?;
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.keys.entry(key).or_insert(name);
    }
    Ok(out)
}

/// The files [`keygen`] wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The new key pair.
    pub keys: KeyPair,
    /// `BASE.key` (mode 0644).
    pub public_file: PathBuf,
    /// `BASE.key_secret` (mode 0600).
    pub secret_file: PathBuf,
}

fn cert_text(keys: &KeyPair, with_secret: bool) -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let mut s = if with_secret {
        format!(
            "#   ****  Generated on {now} by zmq-adaptor  ****\n\
             #   ZeroMQ CURVE **Secret** Certificate\n\
             #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
        )
    } else {
        format!(
            "#   ****  Generated on {now} by zmq-adaptor  ****\n\
             #   ZeroMQ CURVE Public Certificate\n\
             #   Exchange securely, or use a secure mechanism to verify the contents\n\
             #   of this file after exchange.\n\n"
        )
    };
    s.push_str("metadata\ncurve\n");
    s.push_str(&format!("    public-key = \"{}\"\n", keys.public.to_z85()));
    if with_secret {
        s.push_str(&format!(
            "    secret-key = \"{}\"\n",
            encode_z85(keys.secret.as_bytes())
        ));
    }
    s
}

/// Creates `path` (which must not exist) with `mode` and writes `text` to it.
fn write_new(path: &Path, mode: u32, text: &str) -> Result<(), SecurityError> {
    let io = |err: std::io::Error| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            SecurityError::Exists(path.to_path_buf())
        } else {
            SecurityError::Io {
                path: path.to_path_buf(),
                err,
            }
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    // The umask may have removed bits from a public file; set exactly what we mean.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Writes a new certificate pair `BASE.key` (0644) and `BASE.key_secret` (0600) in
/// ZeroMQ's format, creating the directory (0755) when missing. Never overwrites:
/// an existing file of either name fails the call and leaves everything as it was.
pub fn keygen(base: &Path) -> Result<Generated, SecurityError> {
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || name.starts_with('.') {
        return Err(SecurityError::Io {
            path: base.to_path_buf(),
            err: std::io::Error::other("expected DIR/NAME, e.g. /etc/zmq-adaptor/server"),
        });
    }
    let public_file = base.with_file_name(format!("{name}.key"));
    let secret_file = base.with_file_name(format!("{name}.key_secret"));
    for p in [&public_file, &secret_file] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(SecurityError::Exists(p.clone()));
        }
    }
    if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|err| SecurityError::Io {
                path: dir.to_path_buf(),
                err,
            })?;
    }
    let keys = KeyPair::generate()?;
    write_new(&secret_file, 0o600, &cert_text(&keys, true))?;
    if let Err(e) = write_new(&public_file, 0o644, &cert_text(&keys, false)) {
        // We created the secret file a moment ago (create_new): take it back.
        let _ = std::fs::remove_file(&secret_file);
        return Err(e);
    }
    Ok(Generated {
        keys,
        public_file,
        secret_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_keys_round_trip_and_errors_are_clear() {
        let kp = KeyPair::generate().unwrap();
        let z = kp.public.to_z85();
        assert_eq!(z.len(), 40);
        assert_eq!(PublicKey::from_z85("k", &z).unwrap(), kp.public);
        assert_eq!(kp.secret.public().unwrap(), kp.public);
        let short = PublicKey::from_z85("curve_server_key", "abc").unwrap_err();
        assert!(short.to_string().contains("curve_server_key"), "{short}");
        assert!(short.to_string().contains("40"), "{short}");
        let bad = PublicKey::from_z85("k", &format!("{}\"", &z[..39])).unwrap_err();
        assert!(bad.to_string().contains("Z85 alphabet"), "{bad}");
        let overflow = PublicKey::from_z85("k", &"#".repeat(40)).unwrap_err();
        assert!(overflow.to_string().contains("overflow"), "{overflow}");
    }

    #[test]
    fn secret_keys_are_never_shown() {
        let kp = KeyPair::generate().unwrap();
        let secret_text = encode_z85(kp.secret.as_bytes());
        let dbg = format!("{kp:?}");
        assert!(!dbg.contains(&secret_text), "{dbg}");
        assert!(dbg.contains("redacted"));
        let err = SecretKey::from_z85("curve_secret_key", &secret_text[..39]).unwrap_err();
        assert!(!err.to_string().contains(&secret_text[..39]), "{err}");
    }

    #[test]
    fn parser_follows_zpl_sections() {
        let kp = KeyPair::generate().unwrap();
        let p = Path::new("x.key");
        let text = format!(
            "# comment\nmetadata\n    public-key = \"ignored, wrong section\"\ncurve\n    public-key = '{}'\n",
            kp.public
        );
        assert_eq!(parse(p, &text).unwrap().public, kp.public);
        let unquoted = format!("curve\n\tpublic-key = {}\r\n", kp.public);
        assert_eq!(parse(p, &unquoted).unwrap().public, kp.public);
        let top = format!("public-key = \"{}\"\n", kp.public);
        assert!(parse(p, &top).is_err(), "public-key outside curve");
        let twice = format!(
            "curve\n    public-key = \"{0}\"\n    public-key = \"{0}\"\n",
            kp.public
        );
        assert!(parse(p, &twice).unwrap_err().to_string().contains("second"));
    }
}

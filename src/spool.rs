//! The spool: an append-only, checksummed segment log of [`DurableRecord`]s in a
//! directory, where a durable sink keeps records while its engine is unreachable or
//! slower than the input. Records are replayed in order and a segment file is deleted
//! once every record in it was acknowledged.
//!
//! # On disk
//! * `DIR/NNNNNNNNNNNNNNNNNNNN.seg`: segments, numbered in order. A segment holds
//!   frames `[len: u32 LE][crc32: u32 LE][payload: len bytes]`, the CRC (crc32fast)
//!   covering the length bytes and the payload. Payload: `node_len u16, node,
//!   pid u32, boot u64, seq u64, topic_len+1 u32 (0 = no topic), topic, body`.
//!   Writes go to a fresh segment after every open, and rotate at `segment_bytes`.
//! * `DIR/cursor`: `SEGMENT OFFSET`, the end of the acknowledged prefix, replaced
//!   atomically (write + rename). It may lag: records after it are replayed, and the
//!   engine's dedup (record ids) drops those it already has.
//! * `DIR/lock`: `flock`ed while a process uses the spool (one user at a time).
//!
//! # Durability (`--spool-fsync`)
//! Every record is handed to the kernel with one `write` when it is spooled, so a
//! crash of the process (kill -9) loses nothing that was spooled. Against a crash of
//! the machine:
//! * `always`: `fdatasync` after every record (slow; nothing acknowledged is lost);
//! * `interval` (default, 100 ms): `fdatasync` at most every interval, by the sink's
//!   timer; a power loss loses at most the last interval of spooled records;
//! * `never`: the kernel writes back when it likes (typically within 30 s).
//!
//! A torn or corrupt frame (bad length, CRC mismatch, short tail) ends the readable
//! part of its segment: the rest of that segment is cut off and counted in
//! [`Recovered::corrupt`]; opening never fails because of the content of a segment.

use crate::durable::{DurableRecord, RecordId};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Frame header: length + CRC.
const HEADER: u64 = 8;
/// Largest payload a frame may claim; anything larger is corruption.
const MAX_PAYLOAD: u32 = 256 << 20;
/// Default interval of the `interval` fsync policy.
pub const DEFAULT_FSYNC_INTERVAL: Duration = Duration::from_millis(100);

/// When spooled records are forced to disk (`--spool-fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` after every record.
    Always,
    /// `fdatasync` at most every interval (driven by [`Spool::tick`]).
    Interval(Duration),
    /// Never forced; the kernel writes back on its own.
    Never,
}

impl Default for FsyncPolicy {
    /// `interval` (100 ms).
    fn default() -> Self {
        FsyncPolicy::Interval(DEFAULT_FSYNC_INTERVAL)
    }
}

impl FromStr for FsyncPolicy {
    type Err = String;
    /// `always`, `interval` (100 ms), `interval:250ms`, or `never`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            "interval" => Ok(FsyncPolicy::Interval(DEFAULT_FSYNC_INTERVAL)),
            _ => match s.strip_prefix("interval:") {
                Some(d) => humantime::parse_duration(d)
                    .map(FsyncPolicy::Interval)
                    .map_err(|e| format!("'{s}': {e}")),
                None => Err(format!(
                    "'{s}' is not an fsync policy (always, interval, interval:DURATION, never)"
                )),
            },
        }
    }
}

/// Parses a byte size: `4096`, `64K`, `512M`, `2G`, `1T` (powers of 1024; `KiB`,
/// `MB`, … accepted too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 512M"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("'{s}': unknown size unit (K, M, G, T)")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Where the spool lives and how big it may grow.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// Directory (created when missing).
    pub dir: PathBuf,
    /// Bound on the bytes of all segment files; appends past it are refused.
    pub max_bytes: u64,
    /// Segment size at which writes move to a new file (0: max_bytes/8, 4 KiB..64 MiB).
    pub segment_bytes: u64,
    /// When records are forced to disk.
    pub fsync: FsyncPolicy,
}

impl SpoolOptions {
    /// A spool in `dir` with the default bound (1 GiB) and fsync policy (interval).
    pub fn new(dir: impl Into<PathBuf>) -> SpoolOptions {
        SpoolOptions {
            dir: dir.into(),
            max_bytes: 1 << 30,
            segment_bytes: 0,
            fsync: FsyncPolicy::Interval(DEFAULT_FSYNC_INTERVAL),
        }
    }

    fn segment_size(&self) -> u64 {
        if self.segment_bytes > 0 {
            self.segment_bytes
        } else {
            (self.max_bytes / 8).clamp(4 << 10, 64 << 20)
        }
    }
}

/// Position in the spool: the end of a record (segment number, byte offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Segment number.
    pub seg: u64,
    /// Byte offset in that segment.
    pub off: u64,
}

/// What opening found in the directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Records waiting to be replayed.
    pub records: u64,
    /// Bytes of the segment files kept.
    pub bytes: u64,
    /// Corrupt regions (torn tails) cut off.
    pub corrupt: u64,
    /// Bytes cut off with them.
    pub corrupt_bytes: u64,
}

/// Why an append failed.
#[derive(Debug)]
pub enum AppendError {
    /// The spool is at `max_bytes`.
    Full,
    /// Writing failed (disk full, I/O error); the record was not spooled.
    Io(io::Error),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Full => write!(f, "spool full"),
            AppendError::Io(e) => write!(f, "spool write failed: {e}"),
        }
    }
}

impl std::error::Error for AppendError {}

#[derive(Debug)]
struct Segment {
    id: u64,
    len: u64,
}

/// An open spool (see the module documentation). Not shared: wrap it in a mutex.
#[derive(Debug)]
pub struct Spool {
    opts: SpoolOptions,
    segment_size: u64,
    segs: VecDeque<Segment>,
    active: File,
    /// Reader: position of the next record to replay, and an open handle on it.
    read: Pos,
    reader: Option<(u64, BufReader<File>)>,
    /// End of the acknowledged prefix.
    cursor: Pos,
    cursor_dirty: bool,
    unsynced: bool,
    last_sync: Instant,
    bytes: u64,
    unacked: u64,
    unread: u64,
    corrupt: u64,
    buf: Vec<u8>,
    _lock: File,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn encode_payload(rec: &DurableRecord, out: &mut Vec<u8>) {
    let node = rec.id.node.as_bytes();
    let node = &node[..node.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(node.len() as u16).to_le_bytes());
    out.extend_from_slice(node);
    out.extend_from_slice(&rec.id.worker_pid.to_le_bytes());
    out.extend_from_slice(&rec.id.boot.to_le_bytes());
    out.extend_from_slice(&rec.id.seq.to_le_bytes());
    match &rec.topic {
        None => out.extend_from_slice(&0u32.to_le_bytes()),
        Some(t) => {
            out.extend_from_slice(&(t.len() as u32 + 1).to_le_bytes());
            out.extend_from_slice(t);
        }
    }
    out.extend_from_slice(&rec.body);
}

fn decode_payload(p: &[u8]) -> Option<DurableRecord> {
    fn take<'a>(p: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if p.len() < n {
            return None;
        }
        let (a, b) = p.split_at(n);
        *p = b;
        Some(a)
    }
    let mut p = p;
    let nl = u16::from_le_bytes(take(&mut p, 2)?.try_into().ok()?) as usize;
    let node = String::from_utf8_lossy(take(&mut p, nl)?).into_owned();
    let worker_pid = u32::from_le_bytes(take(&mut p, 4)?.try_into().ok()?);
    let boot = u64::from_le_bytes(take(&mut p, 8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(take(&mut p, 8)?.try_into().ok()?);
    let tl = u32::from_le_bytes(take(&mut p, 4)?.try_into().ok()?) as usize;
    let topic = if tl == 0 {
        None
    } else {
        Some(take(&mut p, tl - 1)?.to_vec())
    };
    Some(DurableRecord {
        id: RecordId {
            node,
            worker_pid,
            boot,
            seq,
        },
        topic,
        body: p.to_vec(),
    })
}

fn crc(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// Reads one frame; `Ok(None)` at a clean end, `Err(())` on a torn/corrupt frame.
fn read_frame(r: &mut impl Read, left: u64, payload: &mut Vec<u8>) -> Result<Option<u64>, ()> {
    if left == 0 {
        return Ok(None);
    }
    if left < HEADER {
        return Err(());
    }
    let mut h = [0u8; 8];
    r.read_exact(&mut h).map_err(|_| ())?;
    let len_b: [u8; 4] = h[..4].try_into().map_err(|_| ())?;
    let len = u32::from_le_bytes(len_b);
    let want = u32::from_le_bytes(h[4..].try_into().map_err(|_| ())?);
    if len == 0 || len > MAX_PAYLOAD || HEADER + len as u64 > left {
        return Err(());
    }
    payload.resize(len as usize, 0);
    r.read_exact(payload).map_err(|_| ())?;
    if crc(len_b, payload) != want || decode_payload(payload).is_none() {
        return Err(());
    }
    Ok(Some(HEADER + len as u64))
}

fn fdatasync(f: &File) -> io::Result<()> {
    f.sync_data()
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Spool {
    /// Opens (or creates) the spool in `opts.dir`: takes its lock, reads the cursor,
    /// validates every segment (cutting off torn tails), and starts a new segment
    /// for writes. Fails only on I/O errors or when another process holds the lock.
    pub fn open(opts: SpoolOptions) -> io::Result<(Spool, Recovered)> {
        if !opts.dir.exists() {
            // Records are usage data: the spool is private to the adaptor's user.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&opts.dir)?;
        }
        let lock = OpenOptions::new()
            .mode(0o600)
            .create(true)
            .truncate(false)
            .write(true)
            .open(opts.dir.join("lock"))?;
        // A previous owner in this process may still be tearing down: give it up to
        // 2 s; a live owner elsewhere keeps the lock and is reported.
        let waited = std::time::Instant::now();
        // SAFETY: flock on a valid, open descriptor owned by `lock`.
        while unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            if waited.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("spool {} is in use by another process", opts.dir.display()),
            ));
        }
        let mut ids: Vec<u64> = Vec::new();
        for e in fs::read_dir(&opts.dir)? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
                ids.push(n);
            }
        }
        ids.sort_unstable();
        let mut cursor = fs::read_to_string(opts.dir.join("cursor"))
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace().map(|x| x.parse::<u64>());
                Some(Pos {
                    seg: it.next()?.ok()?,
                    off: it.next()?.ok()?,
                })
            })
            .unwrap_or(Pos { seg: 0, off: 0 });
        let mut rec = Recovered::default();
        let mut segs = VecDeque::new();
        let mut payload = Vec::new();
        for id in ids {
            let path = seg_path(&opts.dir, id);
            if id < cursor.seg {
                fs::remove_file(&path)?;
                continue;
            }
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let size = file.metadata()?.len();
            let mut r = BufReader::with_capacity(1 << 16, &file);
            let (mut off, mut records, mut before_cursor, mut acked) = (0u64, 0u64, 0u64, 0u64);
            loop {
                match read_frame(&mut r, size - off, &mut payload) {
                    Ok(Some(n)) => {
                        off += n;
                        records += 1;
                        if id == cursor.seg && off <= cursor.off {
                            before_cursor = off;
                            acked += 1;
                        }
                    }
                    Ok(None) => break,
                    Err(()) => {
                        rec.corrupt += 1;
                        rec.corrupt_bytes += size - off;
                        drop(r);
                        file.set_len(off)?;
                        file.sync_all()?;
                        break;
                    }
                }
            }
            if id == cursor.seg {
                // A cursor that is not at a record boundary (should not happen) moves
                // back to the last boundary before it: those records are replayed.
                cursor.off = before_cursor;
                records -= acked;
            }
            if off == 0 || (id == cursor.seg && cursor.off == off) {
                // Empty or fully acknowledged: nothing to keep.
                fs::remove_file(&path)?;
                continue;
            }
            rec.records += records;
            rec.bytes += off;
            segs.push_back(Segment { id, len: off });
        }
        let first = segs.front().map(|s| s.id);
        match first {
            Some(id) if id == cursor.seg => {}
            Some(id) => cursor = Pos { seg: id, off: 0 },
            None => {}
        }
        let next_id = segs.back().map(|s| s.id + 1).unwrap_or(cursor.seg + 1);
        if segs.is_empty() {
            cursor = Pos {
                seg: next_id,
                off: 0,
            };
        }
        let active = OpenOptions::new()
            .create(true)
            .mode(0o600)
            .append(true)
            .open(seg_path(&opts.dir, next_id))?;
        segs.push_back(Segment {
            id: next_id,
            len: 0,
        });
        sync_dir(&opts.dir);
        let segment_size = opts.segment_size();
        let mut spool = Spool {
            opts,
            segment_size,
            segs,
            active,
            read: cursor,
            reader: None,
            cursor,
            cursor_dirty: true,
            unsynced: false,
            last_sync: Instant::now(),
            bytes: rec.bytes,
            unacked: rec.records,
            unread: rec.records,
            corrupt: rec.corrupt,
            buf: Vec::new(),
            _lock: lock,
        };
        spool.write_cursor()?;
        Ok((spool, rec))
    }

    /// Appends a record (one `write`; `fdatasync` too under [`FsyncPolicy::Always`]).
    pub fn append(&mut self, rec: &DurableRecord) -> Result<(), AppendError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&[0u8; 8]);
        encode_payload(rec, &mut buf);
        let len = (buf.len() as u64 - HEADER) as u32;
        let len_b = len.to_le_bytes();
        let c = crc(len_b, &buf[8..]);
        buf[..4].copy_from_slice(&len_b);
        buf[4..8].copy_from_slice(&c.to_le_bytes());
        let n = buf.len() as u64;
        let r = self.append_frame(&buf, n);
        self.buf = buf;
        r
    }

    fn append_frame(&mut self, frame: &[u8], n: u64) -> Result<(), AppendError> {
        if len_u32_overflow(n) {
            return Err(AppendError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record too large for the spool",
            )));
        }
        if self.bytes + n > self.opts.max_bytes {
            return Err(AppendError::Full);
        }
        let active_len = self.segs.back().map(|s| s.len).unwrap_or(0);
        if active_len > 0 && active_len + n > self.segment_size {
            self.rotate().map_err(AppendError::Io)?;
        }
        let seg = self.segs.back_mut().expect("active segment");
        if let Err(e) = self.active.write_all(frame) {
            // Undo a partial write so the segment stays well-formed.
            let _ = self.active.set_len(seg.len);
            return Err(AppendError::Io(e));
        }
        seg.len += n;
        self.bytes += n;
        self.unacked += 1;
        self.unread += 1;
        self.unsynced = true;
        if self.opts.fsync == FsyncPolicy::Always {
            fdatasync(&self.active).map_err(AppendError::Io)?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.opts.fsync != FsyncPolicy::Never {
            fdatasync(&self.active)?;
        }
        self.unsynced = false;
        let id = self.segs.back().map(|s| s.id + 1).unwrap_or(0);
        self.active = OpenOptions::new()
            .create(true)
            .mode(0o600)
            .append(true)
            .open(seg_path(&self.opts.dir, id))?;
        self.segs.push_back(Segment { id, len: 0 });
        if self.opts.fsync != FsyncPolicy::Never {
            sync_dir(&self.opts.dir);
        }
        Ok(())
    }

    /// The next record to replay and the position to acknowledge it with, in order;
    /// `None` when every spooled record has been handed out (since the last rewind).
    pub fn read_next(&mut self) -> io::Result<Option<(DurableRecord, Pos)>> {
        loop {
            let Some(idx) = self.segs.iter().position(|s| s.id == self.read.seg) else {
                // The read segment is gone (acknowledged): continue at the first one.
                match self.segs.front() {
                    Some(s) if s.id > self.read.seg => {
                        self.read = Pos { seg: s.id, off: 0 };
                        self.reader = None;
                        continue;
                    }
                    _ => return Ok(None),
                }
            };
            let len = self.segs[idx].len;
            if self.read.off >= len {
                if idx + 1 < self.segs.len() {
                    self.read = Pos {
                        seg: self.segs[idx + 1].id,
                        off: 0,
                    };
                    self.reader = None;
                    continue;
                }
                return Ok(None);
            }
            if self.reader.as_ref().map(|r| r.0) != Some(self.read.seg) {
                let mut f = File::open(seg_path(&self.opts.dir, self.read.seg))?;
                f.seek(SeekFrom::Start(self.read.off))?;
                self.reader = Some((self.read.seg, BufReader::with_capacity(1 << 16, f)));
            }
            let (_, r) = self.reader.as_mut().expect("reader");
            let mut payload = std::mem::take(&mut self.buf);
            let got = read_frame(r, len - self.read.off, &mut payload);
            let out = match got {
                Ok(Some(n)) => {
                    self.read.off += n;
                    self.unread = self.unread.saturating_sub(1);
                    let rec = decode_payload(&payload).expect("validated payload");
                    Some((rec, self.read))
                }
                Ok(None) => None,
                Err(()) => {
                    // Changed under us since open: skip the rest of this segment.
                    self.corrupt += 1;
                    self.segs[idx].len = self.read.off;
                    self.reader = None;
                    None
                }
            };
            self.buf = payload;
            if let Some(x) = out {
                return Ok(Some(x));
            }
        }
    }

    /// Acknowledges every record up to `pos` (the position [`Spool::read_next`] returned
    /// with the record; records are acknowledged in order). Deletes segments that
    /// are then fully acknowledged.
    pub fn ack(&mut self, pos: Pos) -> io::Result<()> {
        if pos <= self.cursor {
            return Ok(());
        }
        self.cursor = pos;
        self.cursor_dirty = true;
        self.unacked = self.unacked.saturating_sub(1);
        // Drop leading segments that are complete and acknowledged.
        while self.segs.len() > 1 {
            let s = &self.segs[0];
            if s.id < self.cursor.seg || (s.id == self.cursor.seg && self.cursor.off >= s.len) {
                let s = self.segs.pop_front().expect("segment");
                self.bytes -= s.len;
                let next = self.segs[0].id;
                if self.cursor.seg <= s.id {
                    self.cursor = Pos { seg: next, off: 0 };
                }
                if self.reader.as_ref().map(|r| r.0) == Some(s.id) {
                    self.reader = None;
                }
                fs::remove_file(seg_path(&self.opts.dir, s.id))?;
            } else {
                break;
            }
        }
        // Everything acknowledged and the active segment holds only acked records:
        // start a fresh one so the space comes back.
        if self.unacked == 0 && self.segs.len() == 1 {
            let s = &self.segs[0];
            if s.len > 0 && self.cursor.seg == s.id && self.cursor.off >= s.len {
                let old = s.id;
                self.bytes -= s.len;
                self.segs.clear();
                self.reader = None;
                let id = old + 1;
                self.active = OpenOptions::new()
                    .create(true)
                    .mode(0o600)
                    .append(true)
                    .open(seg_path(&self.opts.dir, id))?;
                self.segs.push_back(Segment { id, len: 0 });
                self.cursor = Pos { seg: id, off: 0 };
                self.read = self.cursor;
                self.unread = 0;
                self.unsynced = false;
                self.write_cursor()?;
                fs::remove_file(seg_path(&self.opts.dir, old))?;
            }
        }
        Ok(())
    }

    /// Moves the reader back to the first unacknowledged record (after a failed
    /// publish: everything after it is replayed).
    pub fn rewind(&mut self) {
        self.read = self.cursor;
        self.reader = None;
        self.unread = self.unacked;
    }

    /// Forces spooled records and the cursor to disk (whatever the policy).
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            fdatasync(&self.active)?;
            self.unsynced = false;
        }
        if self.cursor_dirty {
            self.write_cursor()?;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Called periodically: applies the `interval` policy (and writes the cursor).
    pub fn tick(&mut self) -> io::Result<()> {
        let due = match self.opts.fsync {
            FsyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            FsyncPolicy::Always => true,
            FsyncPolicy::Never => false,
        };
        if due {
            self.sync()
        } else if self.cursor_dirty && self.opts.fsync == FsyncPolicy::Never {
            self.write_cursor()
        } else {
            Ok(())
        }
    }

    fn write_cursor(&mut self) -> io::Result<()> {
        let tmp = self.opts.dir.join("cursor.tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(f, "{} {}", self.cursor.seg, self.cursor.off)?;
        if self.opts.fsync != FsyncPolicy::Never {
            f.sync_data()?;
        }
        fs::rename(&tmp, self.opts.dir.join("cursor"))?;
        self.cursor_dirty = false;
        Ok(())
    }

    /// Bytes in the segment files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records not yet acknowledged.
    pub fn records(&self) -> u64 {
        self.unacked
    }

    /// Records not yet handed out by [`Spool::read_next`] since the last rewind.
    pub fn unread(&self) -> u64 {
        self.unread
    }

    /// Corrupt regions skipped (on open and while replaying).
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }
}

fn len_u32_overflow(n: u64) -> bool {
    n - HEADER > MAX_PAYLOAD as u64
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> DurableRecord {
        DurableRecord {
            id: RecordId {
                node: "n1".into(),
                worker_pid: 42,
                boot: 7,
                seq: i,
            },
            topic: (i % 3 == 0).then(|| format!("t{i}").into_bytes()),
            body: format!("record number {i}").into_bytes(),
        }
    }

    fn opts(dir: &Path, max: u64) -> SpoolOptions {
        SpoolOptions {
            dir: dir.to_path_buf(),
            max_bytes: max,
            segment_bytes: 1024,
            fsync: FsyncPolicy::Interval(DEFAULT_FSYNC_INTERVAL),
        }
    }

    fn drain(s: &mut Spool, ack: bool) -> Vec<DurableRecord> {
        let mut out = Vec::new();
        while let Some((r, p)) = s.read_next().unwrap() {
            if ack {
                s.ack(p).unwrap();
            }
            out.push(r);
        }
        out
    }

    fn segments(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count()
    }

    #[test]
    fn round_trip_in_order_and_segments_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, r) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
        assert_eq!(r, Recovered::default());
        for i in 0..200 {
            s.append(&rec(i)).unwrap();
        }
        assert_eq!(s.records(), 200);
        assert!(segments(d.path()) > 3, "rotated at 1 KiB");
        let got = drain(&mut s, true);
        assert_eq!(got, (0..200).map(rec).collect::<Vec<_>>());
        assert_eq!((s.records(), s.bytes()), (0, 0));
        assert_eq!(segments(d.path()), 1, "only the fresh active segment");
    }

    #[test]
    fn survives_restart_and_rewind_replays() {
        let d = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
            for i in 0..100 {
                s.append(&rec(i)).unwrap();
            }
            // Hand out 30, acknowledge 20, replay from the first unacked one.
            let mut last = None;
            for i in 0..30 {
                let (r, p) = s.read_next().unwrap().unwrap();
                assert_eq!(r, rec(i));
                if i < 20 {
                    s.ack(p).unwrap();
                }
                last = Some(p);
            }
            assert!(last.is_some());
            s.rewind();
            assert_eq!(s.read_next().unwrap().unwrap().0, rec(20));
            // Dropped without a graceful close: like kill -9 after the last write.
        }
        let (mut s, r) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
        assert_eq!((r.records, r.corrupt), (80, 0));
        s.append(&rec(100)).unwrap();
        let got = drain(&mut s, true);
        assert_eq!(got, (20..101).map(rec).collect::<Vec<_>>());
        drop(s);
        let (s, r) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
        assert_eq!((r.records, s.records(), s.bytes()), (0, 0, 0));
    }

    #[test]
    fn torn_and_garbled_tails_are_cut_and_counted() {
        for garble in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let mut o = opts(d.path(), 1 << 20);
            o.segment_bytes = 1 << 20;
            {
                let (mut s, _) = Spool::open(o.clone()).unwrap();
                for i in 0..10 {
                    s.append(&rec(i)).unwrap();
                }
            }
            let seg = fs::read_dir(d.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "seg"))
                .max_by_key(|p| fs::metadata(p).unwrap().len())
                .unwrap();
            let len = fs::metadata(&seg).unwrap().len();
            if garble {
                let mut b = fs::read(&seg).unwrap();
                let n = b.len();
                b[n - 3] ^= 0xff;
                fs::write(&seg, b).unwrap();
            } else {
                OpenOptions::new()
                    .write(true)
                    .open(&seg)
                    .unwrap()
                    .set_len(len - 5)
                    .unwrap();
            }
            let (mut s, r) = Spool::open(o.clone()).unwrap();
            assert_eq!((r.records, r.corrupt), (9, 1), "garble={garble}");
            assert!(r.corrupt_bytes > 0);
            assert_eq!(s.corrupt(), 1);
            let got = drain(&mut s, true);
            assert_eq!(got, (0..9).map(rec).collect::<Vec<_>>());
            drop(s);
            let (_, r) = Spool::open(o).unwrap();
            assert_eq!(r, Recovered::default(), "cut once, clean afterwards");
        }
    }

    #[test]
    fn zero_filled_tail_is_corrupt_not_a_crash() {
        let d = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
            s.append(&rec(1)).unwrap();
        }
        let seg = seg_path(d.path(), 1);
        let mut b = fs::read(&seg).unwrap();
        b.extend_from_slice(&[0u8; 100]);
        fs::write(&seg, b).unwrap();
        let (mut s, r) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
        assert_eq!((r.records, r.corrupt), (1, 1));
        assert_eq!(drain(&mut s, false), vec![rec(1)]);
    }

    #[test]
    fn full_refuses_until_acknowledged() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(opts(d.path(), 2000)).unwrap();
        let mut ok = 0;
        let mut full = 0;
        for i in 0..200 {
            match s.append(&rec(i)) {
                Ok(()) => ok += 1,
                Err(AppendError::Full) => full += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(ok > 10 && full > 100, "ok={ok} full={full}");
        assert!(s.bytes() <= 2000);
        assert_eq!(drain(&mut s, true).len(), ok);
        s.append(&rec(1000)).unwrap();
    }

    #[test]
    fn spool_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("spool");
        let (mut s, _) = Spool::open(opts(&dir, 1 << 20)).unwrap();
        s.append(&rec(1)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }

    #[test]
    fn second_user_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let (_s, _) = Spool::open(opts(d.path(), 1 << 20)).unwrap();
        let e = Spool::open(opts(d.path(), 1 << 20)).unwrap_err();
        assert!(e.to_string().contains("in use"), "{e}");
    }

    #[test]
    fn sizes_and_policies_parse() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("12Q").is_err());
        assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
        assert_eq!(
            "interval:250ms".parse(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(250)))
        );
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }
}

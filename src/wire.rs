//! The internal hop between a worker's logger and the adaptor: wire format, version 1.
//!
//! This module is the only place that knows the bytes. Workers connect an XPUB to the
//! adaptor's XSUB (so plain ZeroMQ publishers keep working into the same endpoint);
//! the XSUB can send user messages back upstream, which carries the adaptor's
//! heartbeats and acknowledgements.
//!
//! # Messages from a worker (downstream, XPUB → XSUB)
//!
//! Two frames. Frame 0 is the 5-byte signature `FF 5A 41 <kind> <version>`
//! (`\xffZA`, a kind letter, version 1); a message whose first frame is anything else
//! is a plain record from a legacy publisher (`[record]` or `[topic, record]`).
//! Frame 1 holds the body, all integers little-endian:
//!
//! | kind | body |
//! |---|---|
//! | `B` batch | `pid u32, boot u64, first_seq u64, count u32, acked u64`, then `count` records, each `topic_len u16, len u32, topic, record` |
//! | `P` probe | `pid u32, boot u64`: "I am here", answered at once with a heartbeat |
//! | `F` fin | `pid u32, boot u64, last_seq u64`: the last record seq this worker sent to a stopping adaptor |
//! | `R` report | `pid u32, boot u64, accepted u64, refused_queue_full u64, refused_too_large u64, undelivered u64, final u8` |
//!
//! `(pid, boot)` names one logger: `boot` is random per logger start, so a reused pid
//! is a new stream. Records are numbered per logger from 1 (`seq`), consecutively; a
//! batch carries `count` records numbered from `first_seq`. `acked` is the highest seq
//! the worker knows is acknowledged (everything at or below it is settled).
//!
//! # Messages from the adaptor (upstream, XSUB → every connected XPUB)
//!
//! One frame: signature with kind `H`, then `instance u64, max_message u32, state u8,
//! n u32`, then `n` entries `pid u32, boot u64, acked u64`. `instance` is random per
//! adaptor start. `state` 0 = running, 1 = stopping (send no more batches, answer
//! with `F`), 2 = gone (final acknowledgements; forget this adaptor). A worker
//! takes the entry with its own `(pid, boot)`: every record up to `acked` has been
//! forwarded by the adaptor and is settled; everything above it is still the worker's
//! to deliver (and is sent again, in order, to the next adaptor instance).
//!
//! Subscription messages (`\x01…` / `\x00…`) keep their ZeroMQ meaning: the XSUB
//! subscribes to everything, so workers learn that a peer attached.
//!
//! Timing (not part of the format): a full heartbeat every 100 ms; acknowledgements
//! right after the adaptor's turn that forwarded the records, at most every 5 ms,
//! else at the latest 50 ms after the previous ones; a probe is answered at once
//! (a worker waiting in `flush` sends one after its batches). Every upstream message
//! reaches every worker, so workers read them when they wake for their own batches
//! and wait on them only while something waits for an acknowledgement.

/// Version of this format, the last byte of every signature.
pub const VERSION: u8 = 1;
/// Signature prefix: `\xff` never starts a ZeroMQ subscription message.
const SIG: [u8; 3] = [0xff, b'Z', b'A'];
/// Bytes of a batch header.
pub const BATCH_HEADER: usize = 4 + 8 + 8 + 4 + 8;
/// Bytes added per record in a batch.
pub const RECORD_HEADER: usize = 2 + 4;
/// Bytes of a heartbeat before its entries.
const HEARTBEAT_HEADER: usize = 5 + 8 + 4 + 1 + 4;
/// Bytes of one heartbeat entry.
const ACK_ENTRY: usize = 4 + 8 + 8;

/// The kinds of internal messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Records.
    Batch,
    /// A worker announcing itself.
    Probe,
    /// A worker's last seq to a stopping adaptor.
    Fin,
    /// A worker's counters.
    Report,
    /// The adaptor's heartbeat and acknowledgements.
    Heartbeat,
}

impl Kind {
    fn letter(self) -> u8 {
        match self {
            Kind::Batch => b'B',
            Kind::Probe => b'P',
            Kind::Fin => b'F',
            Kind::Report => b'R',
            Kind::Heartbeat => b'H',
        }
    }
    fn from_letter(b: u8) -> Option<Kind> {
        Some(match b {
            b'B' => Kind::Batch,
            b'P' => Kind::Probe,
            b'F' => Kind::Fin,
            b'R' => Kind::Report,
            b'H' => Kind::Heartbeat,
            _ => return None,
        })
    }
}

/// The 5-byte signature frame of a message kind.
pub fn signature(kind: Kind) -> [u8; 5] {
    [SIG[0], SIG[1], SIG[2], kind.letter(), VERSION]
}

/// What the signature at the start of `frame` says: `None` for anything that is not
/// an internal message of a known kind and version (a legacy record).
pub fn kind_of(frame: &[u8]) -> Option<Kind> {
    if frame.len() < 5 || frame[..3] != SIG || frame[4] != VERSION {
        return None;
    }
    Kind::from_letter(frame[3])
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed internal message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A little-endian reader over a byte slice.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or([0; 2]),
        ))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or([0; 4]),
        ))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }
}

/// Names one logger: process id and a random number drawn when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stream {
    /// Process id of the worker.
    pub pid: u32,
    /// Random per logger start.
    pub boot: u64,
}

impl Stream {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.boot.to_le_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Stream, DecodeError> {
        Ok(Stream {
            pid: r.u32()?,
            boot: r.u64()?,
        })
    }
}

/// Header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// The logger that sent it.
    pub stream: Stream,
    /// Seq of the first record.
    pub first_seq: u64,
    /// Number of records.
    pub count: u32,
    /// Highest seq the worker knows is settled.
    pub acked: u64,
}

impl BatchHeader {
    /// Seq of the last record (`first_seq` when empty).
    pub fn last_seq(&self) -> u64 {
        self.first_seq + (self.count as u64).saturating_sub(1)
    }
}

/// Builds a batch body record by record (the drainer's side).
pub struct BatchWriter {
    buf: Vec<u8>,
    count: u32,
}

impl BatchWriter {
    /// A batch of `stream`'s records starting at `first_seq`, reusing `buf`.
    pub fn new(mut buf: Vec<u8>, stream: Stream, first_seq: u64, acked: u64) -> Self {
        buf.clear();
        stream.put(&mut buf);
        buf.extend_from_slice(&first_seq.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&acked.to_le_bytes());
        BatchWriter { buf, count: 0 }
    }
    /// Bytes the batch would have with one more record of these sizes.
    pub fn size_with(&self, topic_len: usize, len: usize) -> usize {
        self.buf.len() + RECORD_HEADER + topic_len + len
    }
    /// Current size of the body.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Records in the batch.
    pub fn count(&self) -> u32 {
        self.count
    }
    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Appends one record. `topic` must be at most `u16::MAX` bytes and `record` at
    /// most `u32::MAX` (the queue enforces far smaller bounds).
    pub fn push(&mut self, topic: &[u8], record: &[u8]) {
        self.buf
            .extend_from_slice(&(topic.len() as u16).to_le_bytes());
        self.buf
            .extend_from_slice(&(record.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(topic);
        self.buf.extend_from_slice(record);
        self.count += 1;
    }
    /// The finished body (frame 1).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[20..24].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Rewrites the `acked` field of a finished batch body (a batch resent after a partial
/// acknowledgement tells the next adaptor what is already settled).
pub fn set_batch_acked(body: &mut [u8], acked: u64) {
    if body.len() >= BATCH_HEADER {
        body[24..32].copy_from_slice(&acked.to_le_bytes());
    }
}

/// One record inside a batch: topic (empty for single-frame records) and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Topic frame, empty when the record was logged without one.
    pub topic: &'a [u8],
    /// The record.
    pub record: &'a [u8],
}

/// Decodes a batch body: its header and an iterator over its records. Every length is
/// checked against what is left, and the count against the records present.
pub fn decode_batch(body: &[u8]) -> Result<(BatchHeader, Vec<RecordRef<'_>>), DecodeError> {
    let mut r = Reader { b: body };
    let stream = Stream::get(&mut r)?;
    let first_seq = r.u64()?;
    let count = r.u32()?;
    let acked = r.u64()?;
    if first_seq == 0 {
        return Err(DecodeError("seq 0"));
    }
    // A count larger than the bytes could hold is a lie: refuse before allocating.
    if count as usize > r.b.len() / RECORD_HEADER {
        return Err(DecodeError("count larger than the body"));
    }
    let mut recs = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let tl = r.u16()? as usize;
        let len = r.u32()? as usize;
        let topic = r.take(tl)?;
        let record = r.take(len)?;
        recs.push(RecordRef { topic, record });
    }
    if !r.b.is_empty() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok((
        BatchHeader {
            stream,
            first_seq,
            count,
            acked,
        },
        recs,
    ))
}

/// A worker's counters, sent periodically and at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Records accepted by `log`/`publish`.
    pub accepted: u64,
    /// Records refused because the queue was full.
    pub refused_queue_full: u64,
    /// Records refused because they were too large.
    pub refused_too_large: u64,
    /// Accepted records given up (exit before an adaptor took them, or larger than the
    /// adaptor's message limit).
    pub undelivered: u64,
    /// Sent at exit: the last report of this stream.
    pub last: bool,
}

/// Control messages from a worker other than batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// A worker announcing itself.
    Probe(Stream),
    /// The last seq a worker sent to a stopping adaptor.
    Fin(Stream, u64),
    /// A worker's counters.
    Report(Stream, Report),
}

/// Encodes a probe body.
pub fn encode_probe(s: Stream) -> Vec<u8> {
    let mut v = Vec::with_capacity(12);
    s.put(&mut v);
    v
}

/// Encodes a fin body.
pub fn encode_fin(s: Stream, last_seq: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    s.put(&mut v);
    v.extend_from_slice(&last_seq.to_le_bytes());
    v
}

/// Encodes a report body.
pub fn encode_report(s: Stream, r: &Report) -> Vec<u8> {
    let mut v = Vec::with_capacity(45);
    s.put(&mut v);
    for x in [
        r.accepted,
        r.refused_queue_full,
        r.refused_too_large,
        r.undelivered,
    ] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.push(r.last as u8);
    v
}

/// Decodes a probe, fin or report body of the given kind.
pub fn decode_control(kind: Kind, body: &[u8]) -> Result<Control, DecodeError> {
    let mut r = Reader { b: body };
    let s = Stream::get(&mut r)?;
    let c = match kind {
        Kind::Probe => Control::Probe(s),
        Kind::Fin => Control::Fin(s, r.u64()?),
        Kind::Report => Control::Report(
            s,
            Report {
                accepted: r.u64()?,
                refused_queue_full: r.u64()?,
                refused_too_large: r.u64()?,
                undelivered: r.u64()?,
                last: r.u8()? != 0,
            },
        ),
        _ => return Err(DecodeError("not a control kind")),
    };
    if !r.b.is_empty() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok(c)
}

/// State an adaptor announces in its heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdaptorState {
    /// Taking records.
    Running,
    /// Stopping: send no more batches; answer with a fin.
    Stopping,
    /// Gone: these are the final acknowledgements.
    Gone,
}

/// The adaptor's heartbeat: who it is, its limits, and acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Random per adaptor start.
    pub instance: u64,
    /// Largest message (frame 1 of a batch) the adaptor accepts.
    pub max_message: u32,
    /// Running, stopping or gone.
    pub state: AdaptorState,
    /// `(stream, acked)` entries.
    pub acks: Vec<(Stream, u64)>,
}

/// Encodes a heartbeat (one frame, signature included).
pub fn encode_heartbeat(h: &Heartbeat) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEARTBEAT_HEADER + h.acks.len() * ACK_ENTRY);
    v.extend_from_slice(&signature(Kind::Heartbeat));
    v.extend_from_slice(&h.instance.to_le_bytes());
    v.extend_from_slice(&h.max_message.to_le_bytes());
    v.push(match h.state {
        AdaptorState::Running => 0,
        AdaptorState::Stopping => 1,
        AdaptorState::Gone => 2,
    });
    v.extend_from_slice(&(h.acks.len() as u32).to_le_bytes());
    for (s, a) in &h.acks {
        s.put(&mut v);
        v.extend_from_slice(&a.to_le_bytes());
    }
    v
}

/// Decodes a heartbeat frame; with `only` set, keeps just that stream's entry (the
/// worker's side: no allocation per entry of other workers).
pub fn decode_heartbeat(frame: &[u8], only: Option<Stream>) -> Result<Heartbeat, DecodeError> {
    if kind_of(frame) != Some(Kind::Heartbeat) {
        return Err(DecodeError("not a heartbeat"));
    }
    let mut r = Reader { b: &frame[5..] };
    let instance = r.u64()?;
    let max_message = r.u32()?;
    let state = match r.u8()? {
        0 => AdaptorState::Running,
        1 => AdaptorState::Stopping,
        2 => AdaptorState::Gone,
        _ => return Err(DecodeError("unknown state")),
    };
    let n = r.u32()? as usize;
    if n > r.b.len() / ACK_ENTRY {
        return Err(DecodeError("count larger than the body"));
    }
    let mut acks = Vec::new();
    for _ in 0..n {
        let s = Stream::get(&mut r)?;
        let a = r.u64()?;
        if only.is_none_or(|o| o == s) {
            acks.push((s, a));
        }
    }
    Ok(Heartbeat {
        instance,
        max_message,
        state,
        acks,
    })
}

/// A random 64-bit number for boot and instance ids (not for secrets).
pub fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Stream {
        Stream { pid: 7, boot: 99 }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any mix of record sizes, topics and empty records survives the round trip,
        /// and every truncation of the body is refused, never a panic.
        #[test]
        fn batch_round_trip_any_mix(
            first_seq in 1u64..u64::MAX / 2,
            acked in 0u64..1_000,
            recs in proptest::collection::vec(
                (
                    proptest::collection::vec(proptest::num::u8::ANY, 0..24),
                    proptest::prop_oneof![
                        8 => proptest::collection::vec(proptest::num::u8::ANY, 0..400),
                        1 => proptest::collection::vec(proptest::num::u8::ANY, 60_000..70_000),
                        1 => proptest::strategy::Just(Vec::new()),
                    ],
                ),
                0..40,
            ),
            cut in proptest::num::usize::ANY,
        ) {
            let mut w = BatchWriter::new(Vec::new(), s(), first_seq, acked);
            for (t, r) in &recs {
                let before = w.size_with(t.len(), r.len());
                w.push(t, r);
                proptest::prop_assert_eq!(w.len(), before);
            }
            let body = w.finish();
            let (h, got) = decode_batch(&body).unwrap();
            proptest::prop_assert_eq!(h.stream, s());
            proptest::prop_assert_eq!(
                (h.first_seq, h.count, h.acked),
                (first_seq, recs.len() as u32, acked)
            );
            proptest::prop_assert_eq!(got.len(), recs.len());
            for ((t, r), g) in recs.iter().zip(&got) {
                proptest::prop_assert_eq!((g.topic, g.record), (&t[..], &r[..]));
            }
            if !recs.is_empty() {
                proptest::prop_assert!(decode_batch(&body[..cut % body.len()]).is_err());
            }
        }

        /// Arbitrary bytes decode to an error or to a batch whose records all lie
        /// inside the input: never a panic, never an allocation the input does not
        /// justify.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok((h, recs)) = decode_batch(&body) {
                proptest::prop_assert_eq!(recs.len(), h.count as usize);
                let total: usize = recs.iter().map(|r| r.topic.len() + r.record.len()).sum();
                proptest::prop_assert!(total <= body.len());
            }
            // The other messages of the hop, in both directions.
            for k in [Kind::Probe, Kind::Fin, Kind::Report, Kind::Heartbeat] {
                let _ = decode_control(k, &body);
            }
            let _ = decode_heartbeat(&body, None);
            let _ = decode_heartbeat(&body, Some(s()));
            let _ = kind_of(&body);
        }
    }

    #[test]
    fn lies_are_refused() {
        let mut w = BatchWriter::new(Vec::new(), s(), 1, 0);
        w.push(b"", b"abc");
        let mut body = w.finish();
        body[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&body).is_err());
        let mut w = BatchWriter::new(Vec::new(), s(), 3, 0);
        w.push(b"", b"x");
        let mut b3 = w.finish();
        set_batch_acked(&mut b3, 2);
        assert_eq!(decode_batch(&b3).unwrap().0.acked, 2);
        let mut body2 = BatchWriter::new(Vec::new(), s(), 1, 0).finish();
        body2.push(0);
        assert!(decode_batch(&body2).is_err());
        assert!(decode_batch(&BatchWriter::new(Vec::new(), s(), 0, 0).finish()).is_err());
    }

    #[test]
    fn signatures_and_legacy() {
        for k in [
            Kind::Batch,
            Kind::Probe,
            Kind::Fin,
            Kind::Report,
            Kind::Heartbeat,
        ] {
            assert_eq!(kind_of(&signature(k)), Some(k));
        }
        assert_eq!(kind_of(b"billing"), None);
        assert_eq!(kind_of(b"\xffZAB\x02"), None);
        assert_eq!(kind_of(b"\xffZA"), None);
    }

    #[test]
    fn control_and_heartbeat_round_trip() {
        let r = Report {
            accepted: 10,
            refused_queue_full: 2,
            refused_too_large: 1,
            undelivered: 3,
            last: true,
        };
        assert_eq!(
            decode_control(Kind::Report, &encode_report(s(), &r)),
            Ok(Control::Report(s(), r))
        );
        assert_eq!(
            decode_control(Kind::Fin, &encode_fin(s(), 42)),
            Ok(Control::Fin(s(), 42))
        );
        assert_eq!(
            decode_control(Kind::Probe, &encode_probe(s())),
            Ok(Control::Probe(s()))
        );
        let other = Stream { pid: 8, boot: 1 };
        let h = Heartbeat {
            instance: 5,
            max_message: 1 << 20,
            state: AdaptorState::Stopping,
            acks: vec![(other, 3), (s(), 9)],
        };
        let f = encode_heartbeat(&h);
        assert_eq!(decode_heartbeat(&f, None), Ok(h.clone()));
        let mine = decode_heartbeat(&f, Some(s())).unwrap();
        assert_eq!(mine.acks, vec![(s(), 9)]);
        assert!(decode_heartbeat(&f[..f.len() - 1], None).is_err());
        assert_ne!(f[0], 0);
        assert_ne!(f[0], 1);
    }
}

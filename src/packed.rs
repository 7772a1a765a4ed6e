//! The packed consumer stream (`zmq-adaptor --publish-packed ENDPOINT`): the batches
//! as workers send them, for consumers that want throughput, optionally compressed.
//!
//! Each message has two frames:
//!
//! 1. the 5-byte signature `FF 5A 41 4B 01` (`\xffZAK`, version 1) — subscribe to it,
//!    or to everything;
//! 2. one byte naming the compression (0 none, 1 zstd, 2 lz4 block with its size
//!    prepended as a little-endian u32), then the compressed **batch body** exactly as
//!    documented in [`crate::wire`] (`pid u32, boot u64, first_seq u64, count u32,
//!    acked u64`, then per record `topic_len u16, len u32, topic, record`).
//!
//! Records from plain publishers are packed by the adaptor itself under its own
//! stream (the adaptor's pid and instance). A batch here never repeats a record: a
//! batch a worker sent twice is re-packed with only the records not seen before.
//! [`decode`] is the reference decoder; the README has a short Python one.

use crate::wire::{self, BatchHeader, DecodeError};

/// The signature frame of a packed message.
pub const SIGNATURE: [u8; 5] = [0xff, b'Z', b'A', b'K', wire::VERSION];

/// Compression of the packed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// As is.
    None,
    /// zstd, level 1.
    Zstd,
    /// lz4 block format, size prepended.
    Lz4,
}

impl Compression {
    /// Parses `none`, `zstd` or `lz4`.
    pub fn parse(s: &str) -> Option<Compression> {
        Some(match s {
            "none" => Compression::None,
            "zstd" => Compression::Zstd,
            "lz4" => Compression::Lz4,
            _ => return None,
        })
    }
    fn byte(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
            Compression::Lz4 => 2,
        }
    }
}

/// Frame 2 of a packed message for a batch body.
pub fn encode(body: &[u8], c: Compression) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 2 + 16);
    out.push(c.byte());
    match c {
        Compression::None => out.extend_from_slice(body),
        Compression::Zstd => match zstd::bulk::compress(body, 1) {
            Ok(z) => out.extend_from_slice(&z),
            Err(_) => {
                out[0] = Compression::None.byte();
                out.extend_from_slice(body);
            }
        },
        Compression::Lz4 => out.extend_from_slice(&lz4_flex::compress_prepend_size(body)),
    }
    out
}

/// A decoded packed message: the batch header and its records `(topic, record)`
/// (topic empty for records logged without one).
pub type Decoded = (BatchHeader, Vec<(Vec<u8>, Vec<u8>)>);

/// Largest batch body a decoder accepts after decompression (guards against a
/// hostile peer's decompression bomb).
pub const MAX_BODY: usize = 256 << 20;

/// Decodes a packed message's two frames.
pub fn decode(sig: &[u8], frame: &[u8]) -> Result<Decoded, DecodeError> {
    if sig != SIGNATURE {
        return Err(DecodeError("not a packed message"));
    }
    let (&c, rest) = frame.split_first().ok_or(DecodeError("empty frame"))?;
    let body: std::borrow::Cow<'_, [u8]> = match c {
        0 => rest.into(),
        1 => zstd::bulk::decompress(rest, MAX_BODY)
            .map_err(|_| DecodeError("bad zstd data"))?
            .into(),
        2 => {
            if rest.len() < 4
                || u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize > MAX_BODY
            {
                return Err(DecodeError("bad lz4 size"));
            }
            lz4_flex::decompress_size_prepended(rest)
                .map_err(|_| DecodeError("bad lz4 data"))?
                .into()
        }
        _ => return Err(DecodeError("unknown compression")),
    };
    let (h, recs) = wire::decode_batch(&body)?;
    Ok((
        h,
        recs.iter()
            .map(|r| (r.topic.to_vec(), r.record.to_vec()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BatchWriter, Stream};

    #[test]
    fn round_trip_each_compression() {
        let mut w = BatchWriter::new(Vec::new(), Stream { pid: 1, boot: 2 }, 10, 9);
        w.push(b"", b"{\"a\":1}");
        w.push(b"billing", &[7u8; 3000]);
        w.push(b"", b"");
        let body = w.finish();
        for c in [Compression::None, Compression::Zstd, Compression::Lz4] {
            let f = encode(&body, c);
            let (h, recs) = decode(&SIGNATURE, &f).unwrap();
            assert_eq!((h.first_seq, h.count), (10, 3));
            assert_eq!(recs[0], (vec![], b"{\"a\":1}".to_vec()));
            assert_eq!(recs[1], (b"billing".to_vec(), vec![7u8; 3000]));
            assert_eq!(recs[2], (vec![], vec![]));
            if c != Compression::None {
                assert!(f.len() < body.len(), "{c:?} compresses");
            }
            assert!(decode(&SIGNATURE, &f[..f.len() - 1]).is_err());
        }
        assert!(decode(b"\xffZAB\x01", &encode(&body, Compression::None)).is_err());
        assert!(decode(&SIGNATURE, &[9, 1, 2]).is_err());
        // A size claim beyond the bound is refused before allocating.
        assert!(decode(&SIGNATURE, &[2, 0xff, 0xff, 0xff, 0x7f, 0]).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Every batch decodes from the packed stream as it was written, with each
        /// compression.
        #[test]
        fn packed_round_trip_any_batch(
            recs in proptest::collection::vec(
                (
                    proptest::collection::vec(proptest::num::u8::ANY, 0..16),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..2_000),
                ),
                0..30,
            ),
        ) {
            let mut w = BatchWriter::new(Vec::new(), Stream { pid: 3, boot: 4 }, 1, 0);
            for (t, r) in &recs {
                w.push(t, r);
            }
            let body = w.finish();
            for c in [Compression::None, Compression::Zstd, Compression::Lz4] {
                let (h, got) = decode(&SIGNATURE, &encode(&body, c)).unwrap();
                proptest::prop_assert_eq!(h.count as usize, recs.len());
                proptest::prop_assert_eq!(&got, &recs);
            }
        }

        /// Arbitrary frames (any compression byte, garbage payload) are refused or
        /// decoded, never a panic.
        #[test]
        fn arbitrary_frames_never_panic(
            c in 0u8..4,
            rest in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            let mut frame = vec![c];
            frame.extend_from_slice(&rest);
            let _ = decode(&SIGNATURE, &frame);
        }
    }
}

//! Consumer-side tools of the `zmq-adaptor` binary: `tail` (subscribe and print the
//! record stream, like `kcat -C`) and `pub` (publish stdin lines as records, to try
//! a pipeline end to end without nginx).

use crate::adaptor::render;
use crate::security::{apply_client, ClientKeys};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What `tail` subscribes to and how it prints.
#[derive(Debug, Clone, Default)]
pub struct TailOptions {
    /// Endpoint to connect the SUB to (an adaptor's publish side, `-p`).
    pub endpoint: String,
    /// Subscription prefix: the topic frame of `[topic, record]` messages, or the
    /// start of single-frame records. Empty: everything.
    pub topic: Vec<u8>,
    /// One JSON object per line (`{"topic":…,"record":…}`) instead of the record text.
    pub json: bool,
    /// Stop after this many records.
    pub count: Option<u64>,
    /// CURVE client keys, for an adaptor whose publish side requires CURVE.
    pub curve: Option<ClientKeys>,
    /// Read a packed stream (`--publish-packed`): one batch per message, decoded
    /// with [`crate::packed::decode`]; `topic` then filters the decoded records.
    pub packed: bool,
}

/// Whether a record (`[record]` or `[topic, record]`) passes a subscription prefix
/// the way a SUB socket would filter it: on its first frame.
fn matches(parts: &[Vec<u8>], prefix: &[u8]) -> bool {
    parts.first().is_some_and(|f| f.starts_with(prefix))
}

/// The records of one received message: the message itself on the regular stream,
/// the batch's records on a packed one (`[record]`, or `[topic, record]` when the
/// record has a topic). A packed message that does not decode is an error.
fn records_of(parts: Vec<Vec<u8>>, opts: &TailOptions) -> Result<Vec<Vec<Vec<u8>>>, String> {
    if !opts.packed {
        return Ok(vec![parts]);
    }
    let [sig, frame] = parts.as_slice() else {
        return Err(format!(
            "packed stream: a message of {} frames",
            parts.len()
        ));
    };
    let (_, recs) = crate::packed::decode(sig, frame).map_err(|e| format!("packed stream: {e}"))?;
    Ok(recs
        .into_iter()
        .map(|(t, r)| if t.is_empty() { vec![r] } else { vec![t, r] })
        .filter(|p| matches(p, &opts.topic))
        .collect())
}

/// One received message as a line of `tail` output (without the newline).
///
/// A message is `[record]` or `[topic, record]`. Plain output is the record, with
/// `\\`, control characters and non-ASCII bytes escaped (`\n`, `\t`, `\xNN`), so one
/// record is always one line. JSON output has `topic` (null for single-frame
/// records) and `record` as JSON strings when they are UTF-8; when a field is not
/// UTF-8 it holds the escaped form and `"escaped": true` is added.
pub fn tail_line(parts: &[Vec<u8>], json: bool) -> String {
    let (topic, record): (Option<&[u8]>, &[u8]) = match parts {
        [] => (None, &[]),
        [r] => (None, r),
        [t, .., r] => (Some(t), r),
    };
    if !json {
        return render(record, usize::MAX);
    }
    let mut escaped = false;
    let mut field = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => {
            escaped = true;
            serde_json::Value::String(render(b, usize::MAX))
        }
    };
    let mut obj = serde_json::Map::new();
    obj.insert(
        "topic".into(),
        topic.map(&mut field).unwrap_or(serde_json::Value::Null),
    );
    obj.insert("record".into(), field(record));
    if escaped {
        obj.insert("escaped".into(), serde_json::Value::Bool(true));
    }
    serde_json::Value::Object(obj).to_string()
}

/// Subscribes and writes one line per record to `out` until `count` records were
/// written, `stop` is set, or `out` fails (a closed pipe ends `tail` quietly).
/// Returns the number of records written.
pub fn tail(opts: &TailOptions, out: &mut dyn Write, stop: &AtomicBool) -> Result<u64, String> {
    let ctx = zmq::Context::new();
    let sock = ctx.socket(zmq::SUB).map_err(|e| e.to_string())?;
    sock.set_linger(0).map_err(|e| e.to_string())?;
    sock.set_rcvhwm(0).map_err(|e| e.to_string())?;
    let subscription: &[u8] = if opts.packed {
        &crate::packed::SIGNATURE
    } else {
        &opts.topic
    };
    sock.set_subscribe(subscription)
        .map_err(|e| e.to_string())?;
    if let Some(k) = &opts.curve {
        apply_client(&sock, k).map_err(|e| e.to_string())?;
    }
    sock.connect(&opts.endpoint)
        .map_err(|e| format!("{}: {e}", opts.endpoint))?;
    let mut n = 0u64;
    while opts.count.is_none_or(|c| n < c) && !stop.load(Ordering::Acquire) {
        match sock.poll(zmq::POLLIN, 100) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(e) => return Err(e.to_string()),
        }
        while opts.count.is_none_or(|c| n < c) {
            let parts = match sock.recv_multipart(zmq::DONTWAIT) {
                Ok(p) => p,
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => break,
                Err(e) => return Err(e.to_string()),
            };
            for rec in records_of(parts, opts)? {
                if opts.count.is_some_and(|c| n >= c) {
                    break;
                }
                if writeln!(out, "{}", tail_line(&rec, opts.json)).is_err() {
                    return Ok(n);
                }
                n += 1;
            }
        }
        if out.flush().is_err() {
            return Ok(n);
        }
    }
    let _ = out.flush();
    Ok(n)
}

/// Where and how `pub` publishes.
#[derive(Debug, Clone, Default)]
pub struct PubOptions {
    /// Endpoint to connect to (an adaptor's listen side, `-b`, or any bound SUB).
    pub endpoint: String,
    /// Send `[topic, line]` instead of `[line]`.
    pub topic: Option<Vec<u8>>,
    /// How long to wait for the peer's subscription before giving up.
    pub wait: Duration,
    /// CURVE client keys, for an endpoint that requires CURVE.
    pub curve: Option<ClientKeys>,
}

/// Publishes every line of `input` (without its `\n`) as one record and returns how
/// many were sent.
///
/// Uses an XPUB socket, as the library does: it first waits (up to `wait`) until the
/// peer's subscription arrives, so no line is dropped for want of a subscriber; with
/// `ZMQ_XPUB_NODROP` a full pipe makes it wait rather than drop. At the end it
/// lingers up to 5 s for libzmq to hand everything over.
pub fn publish_lines(opts: &PubOptions, input: &mut dyn BufRead) -> Result<u64, String> {
    let ctx = zmq::Context::new();
    let mut sock = ctx.socket(zmq::XPUB).map_err(|e| e.to_string())?;
    crate::zmq_util::set_xpub_nodrop(&mut sock).map_err(|e| e.to_string())?;
    sock.set_linger(5000).map_err(|e| e.to_string())?;
    if let Some(k) = &opts.curve {
        apply_client(&sock, k).map_err(|e| e.to_string())?;
    }
    sock.connect(&opts.endpoint)
        .map_err(|e| format!("{}: {e}", opts.endpoint))?;
    let start = Instant::now();
    loop {
        let left = opts.wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(format!(
                "no subscriber at {} after {:?} (is the adaptor running?)",
                opts.endpoint, opts.wait
            ));
        }
        if matches!(sock.poll(zmq::POLLIN, left.as_millis().max(1) as i64), Ok(n) if n > 0) {
            if let Ok(m) = sock.recv_bytes(zmq::DONTWAIT) {
                if m.first() == Some(&1) {
                    break;
                }
            }
        }
    }
    let mut sent = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("stdin: {e}"))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2);
        if let Some(t) = &opts.topic {
            parts.push(t);
        }
        parts.push(&line);
        loop {
            match sock.send_multipart(parts.iter(), zmq::DONTWAIT) {
                Ok(()) => break,
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {
                    // Drain subscription messages so the peer's state stays current.
                    let _ = sock.recv_bytes(zmq::DONTWAIT);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        sent += 1;
    }
    // libzmq 4.3.4 can lose the last multipart messages when a socket closes right
    // after sending over ipc (see README): give the I/O thread a moment first.
    std::thread::sleep(Duration::from_millis(100));
    drop(sock);
    drop(ctx);
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lines_escape_binary_and_carry_topics_in_json() {
        assert_eq!(tail_line(&[b"plain rec".to_vec()], false), "plain rec");
        assert_eq!(
            tail_line(&[b"t".to_vec(), b"a\nb\x01\\".to_vec()], false),
            "a\\nb\\x01\\\\"
        );
        let j = |parts: &[Vec<u8>]| -> serde_json::Value {
            serde_json::from_str(&tail_line(parts, true)).unwrap()
        };
        assert_eq!(
            j(&[b"{\"a\":1}".to_vec()]),
            serde_json::json!({"topic": null, "record": "{\"a\":1}"})
        );
        assert_eq!(
            j(&[b"billing".to_vec(), b"\xff\x00".to_vec()]),
            serde_json::json!({"topic": "billing", "record": "\\xff\\x00", "escaped": true})
        );
    }
}

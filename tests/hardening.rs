//! Bad input and bounds: lengths and settings no caller should pass, flags and
//! endpoints that cannot work, signals, and two adaptors racing for one ipc path.
//! Real processes and real peers throughout.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// Field `name=` of a "k=v k=v" line.
fn field(out: &str, name: &str) -> u64 {
    out.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {out}"))
}

#[test]
fn c_overflowing_lengths_and_absurd_settings_get_codes_and_leak_no_budget() {
    let dir = tempdir();
    let exe = compile_c("bad_input", dir.path());
    let ep = ipc(dir.path(), "listen");
    let sub = Sub::bind(&ep, b"");
    let count = 2000usize;
    let out = Command::new(&exe)
        .args([&ep, &count.to_string()])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
    let first = stdout.lines().next().unwrap_or("");
    assert_eq!(field(first, "too_large"), 600, "{stdout}");
    assert_eq!(field(first, "queue_bytes"), 0, "{stdout}");
    let got = sub.collect(count, Duration::from_secs(3), Duration::from_secs(30));
    assert_eq!(got.len(), count, "every good record arrives: {stdout}");
    for (i, m) in got.iter().enumerate() {
        assert!(
            m.len() == 2 && m[0] == b"billing" && m[1] == rec("good", i),
            "record {i}"
        );
    }
}

//! The C ABI used by plain C programs (compiled with -Wall -Wextra -Werror against
//! include/zmq_adaptor.h and libzmq_adaptor.so), with a real SUB as the peer.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn c_program_logs_end_to_end_and_exit_linger_delivers() {
    let dir = tempdir();
    let exe = compile_c("logger_e2e", dir.path());
    let ep = ipc(dir.path(), "listen");
    let all = Sub::bind(&ep, b"");
    let count = 20_000usize;
    let out = Command::new(&exe)
        .args([&ep, &count.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("curve=1"),
        "libzmq must have CURVE: {stdout}"
    );
    let pubs = count.div_ceil(10);
    let got = all.collect(
        count + pubs,
        Duration::from_secs(3),
        Duration::from_secs(30),
    );
    assert_eq!(
        got.len(),
        count + pubs,
        "every record arrives; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let singles: Vec<_> = got.iter().filter(|m| m.len() == 1).collect();
    let topics: Vec<_> = got.iter().filter(|m| m.len() == 2).collect();
    assert_eq!(singles.len(), count);
    assert_eq!(topics.len(), pubs);
    for (i, m) in singles.iter().enumerate() {
        assert!(m[0] == rec("c-rec", i), "record {i} out of order");
    }
    for (k, m) in topics.iter().enumerate() {
        assert!(
            m[0] == b"billing" && m[1] == rec("c-pub", k * 10),
            "topic message {k}"
        );
    }
}

#[test]
fn c_fork_parent_and_child_both_deliver() {
    let dir = tempdir();
    let exe = compile_c("fork", dir.path());
    let ep = ipc(dir.path(), "listen");
    let all = Sub::bind(&ep, b"");
    let count = 5_000usize;
    let out = Command::new(&exe)
        .args([&ep, &count.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = all.collect(2 * count, Duration::from_secs(3), Duration::from_secs(30));
    let parent: Vec<_> = got
        .iter()
        .filter(|m| m[0].starts_with(b"parent"))
        .map(|m| m[0].clone())
        .collect();
    let child: Vec<_> = got
        .iter()
        .filter(|m| m[0].starts_with(b"child"))
        .map(|m| m[0].clone())
        .collect();
    assert_eq!(parent.len(), count, "parent records complete");
    assert_eq!(child.len(), count, "child records complete");
    for i in 0..count {
        assert!(parent[i] == rec("parent", i), "parent record {i} in order");
        assert!(child[i] == rec("child", i), "child record {i} in order");
    }
}

#[test]
fn c_program_runs_the_proxy_in_process() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let dir = tempdir();
    let exe = compile_c("proxy", dir.path());
    let listen = ipc(dir.path(), "listen");
    let publish = ipc(dir.path(), "publish");
    let count = 10_000usize;
    let mut child = Proc(
        Command::new(&exe)
            .args([&listen, &publish, &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(listen.trim_start_matches("ipc://"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "ipc_mode applied");
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(listen.trim_start_matches("ipc://"))
        .unwrap()
        .gid();
    assert_eq!(
        Some(gid),
        zmq_adaptor::adaptor::group_id("nogroup"),
        "ipc_group applied"
    );
    let sub = Sub::connect(&publish, b"");
    // The proxy forwards only once this consumer's subscription reached it.
    std::thread::sleep(Duration::from_millis(300));
    child.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let got = sub.collect(count, Duration::from_secs(3), Duration::from_secs(30));
    let mut rest = String::new();
    for l in out.lines().map_while(Result::ok) {
        rest.push_str(&l);
        rest.push('\n');
    }
    assert_eq!(child.wait(Duration::from_secs(10)), Some(0), "{rest}");
    assert!(
        rest.contains(&format!(
            "in={count} out={count} subscriptions_in=1 forwarded={count} dropped=0 backlog=0"
        )),
        "{rest}"
    );
    assert!(rest.contains("stopped"));
    assert_eq!(got.len(), count);
    for (i, m) in got.iter().enumerate() {
        assert!(m[0] == rec("px", i), "record {i} in order");
    }
}

//! Logger configuration: defaults, validation, the process-wide store and the
//! `ZMQ_ADAPTOR_ENDPOINT` override.

use crate::error::{zmq_adaptor_result as R, Result};
use std::sync::Mutex;
use std::time::Duration;

/// Endpoint the workers' publishers connect to when nothing else is said.
pub const DEFAULT_ENDPOINT: &str = "ipc:///tmp/nginx_queue_listen";
/// Environment variable that replaces the default endpoint when `configure` was never called.
pub const ENDPOINT_ENV: &str = "ZMQ_ADAPTOR_ENDPOINT";

/// Logger settings for one process. Zero values in the C struct mean "default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the drainer's publisher connects (the adaptor's listen endpoint).
    pub endpoint: String,
    /// Queue bound in records; a push beyond it is dropped and counted.
    pub queue_records: usize,
    /// Queue bound in bytes of record payload (topic + record).
    pub queue_bytes: usize,
    /// Largest accepted record (topic + record bytes); larger ones are refused and counted.
    pub max_record_bytes: usize,
    /// libzmq send high-water mark of the publisher socket, in messages.
    pub send_hwm: i32,
    /// How long the drainer sleeps between batches.
    pub batch_interval: Duration,
    /// Queue depth (records) at which a producer wakes the drainer early.
    pub batch_records: usize,
    /// Upper bound on how long process exit waits to deliver queued records.
    pub linger: Duration,
    /// CURVE keys for reaching an adaptor whose listen socket is a CURVE server
    /// (`curve_server_key`, `curve_public_key`, `curve_secret_key` in the C and Lua
    /// configuration; see [`crate::security::ClientKeys::from_z85`]). `None`: no
    /// encryption (the NULL mechanism). The secret key never shows in `Debug`.
    pub curve: Option<crate::security::ClientKeys>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            queue_records: 65_536,
            queue_bytes: 64 << 20,
            max_record_bytes: 64 << 10,
            send_hwm: 100_000,
            // Measured under nginx: 1 ms → 10 ms cut the off-worker CPU per record
            // (drainer + libzmq I/O + adaptor) from 11.7 to 3.3 µs at ~15k records/s
            // per worker; bursts still wake the drainer early (batch_records).
            batch_interval: Duration::from_millis(10),
            batch_records: 4096,
            linger: Duration::from_millis(2000),
            curve: None,
        }
    }
}

/// Most queue slots (`queue_records`). Ring slots are allocated up front, when the
/// logger starts in a process (about 32 bytes each: 32 MiB at this bound).
pub const MAX_QUEUE_RECORDS: usize = 1 << 20;
/// Largest byte bound of the queue (`queue_bytes`): 1 GiB per process.
pub const MAX_QUEUE_BYTES: usize = 1 << 30;
/// Largest accepted `max_record_bytes`: 16 MiB (and never more than `queue_bytes`).
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// Largest `send_hwm` (messages libzmq may buffer towards the adaptor).
pub const MAX_SEND_HWM: u32 = 10_000_000;
/// Shortest drainer wake interval (`batch_interval_us`), in microseconds.
pub const MIN_BATCH_INTERVAL_US: u32 = 50;
/// Longest drainer wake interval (`batch_interval_us`), in microseconds: 10 s.
pub const MAX_BATCH_INTERVAL_US: u32 = 10_000_000;
/// Largest early-wake depth (`batch_records`); the early wake happens at
/// `min(batch_records, queue_records)`.
pub const MAX_BATCH_RECORDS: u32 = 1 << 20;
/// Longest exit wait (`linger_ms`): 600 s.
pub const MAX_LINGER_MS: u32 = 600_000;

/// The accepted range of one numeric setting, in the unit of the C/Lua field of the
/// same name (`zmq_adaptor_config`, `zmq_logger.configure{}`). In C and Lua, 0 means
/// "default" and is always accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Field name as C and Lua callers spell it.
    pub field: &'static str,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
}

/// Every numeric setting and its range; [`Config::check`] and the bindings use this
/// table (C: `zmq_adaptor_config_limit`), so the bounds exist once.
pub const LIMITS: [Limit; 7] = [
    Limit {
        field: "queue_records",
        min: 1,
        max: MAX_QUEUE_RECORDS as u64,
    },
    Limit {
        field: "queue_bytes",
        min: 1,
        max: MAX_QUEUE_BYTES as u64,
    },
    Limit {
        field: "max_record_bytes",
        min: 1,
        max: MAX_RECORD_BYTES as u64,
    },
    Limit {
        field: "send_hwm",
        min: 1,
        max: MAX_SEND_HWM as u64,
    },
    Limit {
        field: "batch_interval_us",
        min: MIN_BATCH_INTERVAL_US as u64,
        max: MAX_BATCH_INTERVAL_US as u64,
    },
    Limit {
        field: "batch_records",
        min: 1,
        max: MAX_BATCH_RECORDS as u64,
    },
    Limit {
        field: "linger_ms",
        min: 0,
        max: MAX_LINGER_MS as u64,
    },
];

/// The range of the setting called `field`, if there is one.
pub fn limit(field: &str) -> Option<Limit> {
    LIMITS.iter().copied().find(|l| l.field == field)
}

/// Which setting is wrong, and why (the message names the field and its bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The result code for C callers: `ZMQ_ADAPTOR_ERR_BAD_ENDPOINT` or `_BAD_CONFIG`.
    pub code: R,
    /// The field, as C and Lua callers spell it.
    pub field: &'static str,
    /// One line, e.g. `queue_records must be 1..1048576 (got 67108864)`.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Checks `value` against the range of `field` (see [`LIMITS`]).
pub fn check_field(field: &str, value: i128) -> std::result::Result<(), ConfigError> {
    let Some(l) = limit(field) else {
        return Err(ConfigError {
            code: R::ZMQ_ADAPTOR_ERR_BAD_CONFIG,
            field: "?",
            message: format!("unknown setting \"{field}\""),
        });
    };
    if value < l.min as i128 || value > l.max as i128 {
        return Err(ConfigError {
            code: R::ZMQ_ADAPTOR_ERR_BAD_CONFIG,
            field: l.field,
            message: format!("{} must be {}..{} (got {value})", l.field, l.min, l.max),
        });
    }
    Ok(())
}

impl Config {
    /// Checks every value; the error names the first one out of range and its bounds.
    pub fn check(&self) -> std::result::Result<(), ConfigError> {
        if validate_endpoint(&self.endpoint).is_err() {
            return Err(ConfigError {
                code: R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT,
                field: "endpoint",
                message: format!(
                    "endpoint \"{}\" is not tcp://host:port, ipc:///path or inproc://name",
                    self.endpoint.escape_debug()
                ),
            });
        }
        let us = i128::try_from(self.batch_interval.as_micros()).unwrap_or(i128::MAX);
        let ms = i128::try_from(self.linger.as_millis()).unwrap_or(i128::MAX);
        for (field, v) in [
            ("queue_records", self.queue_records as i128),
            ("queue_bytes", self.queue_bytes as i128),
            ("max_record_bytes", self.max_record_bytes as i128),
            ("send_hwm", self.send_hwm as i128),
            ("batch_interval_us", us),
            ("batch_records", self.batch_records as i128),
            ("linger_ms", ms),
        ] {
            check_field(field, v)?;
        }
        if self.max_record_bytes > self.queue_bytes {
            return Err(ConfigError {
                code: R::ZMQ_ADAPTOR_ERR_BAD_CONFIG,
                field: "max_record_bytes",
                message: format!(
                    "max_record_bytes must not exceed queue_bytes (got {} > {})",
                    self.max_record_bytes, self.queue_bytes
                ),
            });
        }
        Ok(())
    }

    /// Checks every value; the result code of the first one out of range.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|e| e.code)
    }
}

/// Longest ipc path: `sun_path` holds 108 bytes, the terminating NUL included.
pub const MAX_IPC_PATH: usize = 107;

/// Syntax check of a ZeroMQ endpoint, so a typo fails at configure time rather than
/// leaving libzmq retrying silently.
pub fn validate_endpoint(endpoint: &str) -> Result<()> {
    match endpoint_problem(endpoint) {
        None => Ok(()),
        Some(_) => Err(R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT),
    }
}

/// Why `endpoint` can never work, in words, or None when its syntax is fine:
/// `tcp://host:port` (host `*`, a name, an IPv4 address or `[IPv6]`; port 0..65535
/// or `*`), `ipc://path` (at most [`MAX_IPC_PATH`] bytes) or `inproc://name`.
pub fn endpoint_problem(endpoint: &str) -> Option<String> {
    let expected = "expected tcp://host:port, ipc:///path or inproc://name";
    let Some((transport, address)) = endpoint.split_once("://") else {
        return Some(expected.into());
    };
    if address.is_empty() {
        return Some(format!("empty address; {expected}"));
    }
    if address.bytes().any(|b| b.is_ascii_whitespace() || b == 0) {
        return Some("the address contains white space or NUL".into());
    }
    match transport {
        "ipc" if address.len() > MAX_IPC_PATH => Some(format!(
            "the ipc path is {} bytes long; at most {MAX_IPC_PATH} fit a unix socket address",
            address.len()
        )),
        "ipc" | "inproc" => None,
        "tcp" => {
            let Some((host, port)) = address.rsplit_once(':') else {
                return Some("tcp endpoints need a port: tcp://host:port".into());
            };
            let host = host.rsplit_once(';').map_or(host, |(_, h)| h);
            if host.is_empty() {
                return Some("tcp endpoints need a host: tcp://host:port".into());
            }
            if port != "*" && port.parse::<u16>().is_err() {
                return Some(format!("port '{port}' is not 0..65535 or *"));
            }
            if let Some(v6) = host.strip_prefix('[') {
                let ok = v6
                    .strip_suffix(']')
                    .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
                return (!ok).then(|| format!("'{host}' is not an IPv6 address"));
            }
            // All digits and dots: meant as an IPv4 address, and it must be one
            // (libzmq would take 256.1.1.1 for a host name that never resolves).
            if host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && host.parse::<std::net::Ipv4Addr>().is_err()
            {
                return Some(format!("'{host}' is not an IPv4 address"));
            }
            None
        }
        other => Some(format!("unknown transport '{other}'; {expected}")),
    }
}

/// Process-wide configuration chosen before the logger starts. Inherited across `fork`.
static CONFIGURED: Mutex<Option<Config>> = Mutex::new(None);

/// Stores `cfg` for the logger of this process (validated first).
pub(crate) fn store(cfg: Config) -> Result<()> {
    cfg.validate()?;
    *CONFIGURED.lock().unwrap_or_else(|p| p.into_inner()) = Some(cfg);
    Ok(())
}

/// The configuration the logger starts with: the stored one, or the defaults with the
/// endpoint taken from `ZMQ_ADAPTOR_ENDPOINT` when it is set.
pub(crate) fn effective() -> Result<Config> {
    if let Some(c) = CONFIGURED.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        return Ok(c);
    }
    let mut c = Config::default();
    if let Ok(ep) = std::env::var(ENDPOINT_ENV) {
        if !ep.is_empty() {
            c.endpoint = ep;
        }
    }
    c.validate()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for ok in [
            "ipc:///tmp/x",
            "tcp://127.0.0.1:6001",
            "tcp://localhost:1",
            "tcp://[::1]:5",
            "tcp://*:*",
            "inproc://a",
            "tcp://127.0.0.1;127.0.0.1:7",
        ] {
            assert_eq!(validate_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "tcp://",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:99999",
            "tcp://:5",
            "udp://1.2.3.4:5",
            "ipc://",
            "nonsense",
            "tcp://a b:5",
            "tcp://256.1.1.1:5",
            "tcp://1.2.3:5",
            "tcp://[::g]:5",
            "tcp://[::1:5",
        ] {
            assert_eq!(
                validate_endpoint(bad),
                Err(R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT),
                "{bad}"
            );
        }
        let long = format!("ipc:///{}", "a".repeat(MAX_IPC_PATH));
        assert!(endpoint_problem(&long).unwrap().contains("at most 107"));
        assert_eq!(endpoint_problem(&long[..long.len() - 1]), None);
        assert!(endpoint_problem("tcp://256.1.1.1:5")
            .unwrap()
            .contains("not an IPv4 address"));
    }

    #[test]
    fn defaults_are_valid_and_bounds_checked() {
        assert_eq!(Config::default().validate(), Ok(()));
        let c = Config {
            max_record_bytes: 10,
            queue_bytes: 5,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(R::ZMQ_ADAPTOR_ERR_BAD_CONFIG));
        let c = Config {
            queue_records: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(R::ZMQ_ADAPTOR_ERR_BAD_CONFIG));
    }

    #[test]
    fn absurd_values_name_the_field_and_the_limit() {
        let cases: [(Config, &str, &str); 8] = [
            (
                Config {
                    queue_records: 1 << 26,
                    ..Config::default()
                },
                "queue_records",
                "queue_records must be 1..1048576 (got 67108864)",
            ),
            (
                Config {
                    queue_bytes: 2 << 30,
                    ..Config::default()
                },
                "queue_bytes",
                "queue_bytes must be 1..1073741824 (got 2147483648)",
            ),
            (
                Config {
                    max_record_bytes: 32 << 20,
                    queue_bytes: 1 << 30,
                    ..Config::default()
                },
                "max_record_bytes",
                "max_record_bytes must be 1..16777216 (got 33554432)",
            ),
            (
                Config {
                    max_record_bytes: 2000,
                    queue_bytes: 1000,
                    ..Config::default()
                },
                "max_record_bytes",
                "max_record_bytes must not exceed queue_bytes (got 2000 > 1000)",
            ),
            (
                Config {
                    send_hwm: -1,
                    ..Config::default()
                },
                "send_hwm",
                "send_hwm must be 1..10000000 (got -1)",
            ),
            (
                Config {
                    batch_interval: Duration::from_secs(11),
                    ..Config::default()
                },
                "batch_interval_us",
                "batch_interval_us must be 50..10000000 (got 11000000)",
            ),
            (
                Config {
                    batch_records: usize::MAX,
                    ..Config::default()
                },
                "batch_records",
                "batch_records must be 1..1048576 (got 18446744073709551615)",
            ),
            (
                Config {
                    linger: Duration::from_secs(601),
                    ..Config::default()
                },
                "linger_ms",
                "linger_ms must be 0..600000 (got 601000)",
            ),
        ];
        for (c, field, msg) in cases {
            let e = c.check().unwrap_err();
            assert_eq!(
                (e.code, e.field, e.message.as_str()),
                (R::ZMQ_ADAPTOR_ERR_BAD_CONFIG, field, msg)
            );
        }
        // The bounds themselves are accepted.
        let edge = Config {
            queue_records: MAX_QUEUE_RECORDS,
            queue_bytes: MAX_QUEUE_BYTES,
            max_record_bytes: MAX_RECORD_BYTES,
            send_hwm: MAX_SEND_HWM as i32,
            batch_interval: Duration::from_micros(MIN_BATCH_INTERVAL_US as u64),
            batch_records: MAX_BATCH_RECORDS as usize,
            linger: Duration::from_millis(MAX_LINGER_MS as u64),
            ..Config::default()
        };
        assert_eq!(edge.check(), Ok(()));
        let e = Config {
            endpoint: "nonsense".into(),
            ..Config::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (R::ZMQ_ADAPTOR_ERR_BAD_ENDPOINT, "endpoint")
        );
        assert_eq!(limit("queue_records").map(|l| l.max), Some(1 << 20));
        assert!(limit("nope").is_none());
        assert!(check_field("nope", 1).is_err());
    }
}

/*
 * zmq_adaptor: ZeroMQ usage-logging pipeline for NGINX/OpenResty API gateways.
 *
 * Link with -lzmq_adaptor (libzmq is its only runtime dependency).
 * Every function returns 0 (ZMQ_ADAPTOR_OK) on success or a zmq_adaptor_result code;
 * zmq_adaptor_strerror() describes a code. No function aborts on bad input.
 */

#ifndef ZMQ_ADAPTOR_H
#define ZMQ_ADAPTOR_H

/* Generated from src/ffi by cbindgen (build.rs). Do not edit by hand. */

#include <stddef.h>
#include <stdint.h>

/* Version of this header; zmq_adaptor_version() returns the library's. */
#define ZMQ_ADAPTOR_VERSION_MAJOR 0
#define ZMQ_ADAPTOR_VERSION_MINOR 1
#define ZMQ_ADAPTOR_VERSION_PATCH 0
#define ZMQ_ADAPTOR_VERSION_STRING "0.1.0"

// Most queue slots (`queue_records`). Ring slots are allocated up front, when the
// logger starts in a process (about 32 bytes each: 32 MiB at this bound).
#define ZMQ_ADAPTOR_MAX_QUEUE_RECORDS (1 << 20)

// Largest byte bound of the queue (`queue_bytes`): 1 GiB per process.
#define ZMQ_ADAPTOR_MAX_QUEUE_BYTES (1 << 30)

// Largest accepted `max_record_bytes`: 16 MiB (and never more than `queue_bytes`).
#define ZMQ_ADAPTOR_MAX_RECORD_BYTES (16 << 20)

// Largest `send_hwm` (messages libzmq may buffer towards the adaptor).
#define ZMQ_ADAPTOR_MAX_SEND_HWM 10000000

// Shortest drainer wake interval (`batch_interval_us`), in microseconds.
#define ZMQ_ADAPTOR_MIN_BATCH_INTERVAL_US 50

// Longest drainer wake interval (`batch_interval_us`), in microseconds: 10 s.
#define ZMQ_ADAPTOR_MAX_BATCH_INTERVAL_US 10000000

// Largest early-wake depth (`batch_records`); the early wake happens at
// `min(batch_records, queue_records)`.
#define ZMQ_ADAPTOR_MAX_BATCH_RECORDS (1 << 20)

// Longest exit wait (`linger_ms`): 600 s.
#define ZMQ_ADAPTOR_MAX_LINGER_MS 600000

// Result codes returned by every `zmq_adaptor_*` function.
//
// `ZMQ_ADAPTOR_OK` (0) is success; every other value names one failure.
// `zmq_adaptor_strerror` turns a code into a static, human-readable string.
typedef enum zmq_adaptor_result {
  // Success.
  ZMQ_ADAPTOR_OK = 0,
  // A required pointer argument was NULL.
  ZMQ_ADAPTOR_ERR_NULL = 1,
  // The record (or topic) is empty.
  ZMQ_ADAPTOR_ERR_EMPTY = 2,
  // The record is larger than `max_record_bytes`; it was counted in `dropped_too_large`.
  ZMQ_ADAPTOR_ERR_TOO_LARGE = 3,
  // The queue is at its record or byte bound; the record was counted in `dropped_queue_full`.
  ZMQ_ADAPTOR_ERR_QUEUE_FULL = 4,
  // The endpoint is not a valid ZeroMQ endpoint (`tcp://host:port`, `ipc:///path`, `inproc://name`).
  ZMQ_ADAPTOR_ERR_BAD_ENDPOINT = 5,
  // A configuration value is out of range.
  ZMQ_ADAPTOR_ERR_BAD_CONFIG = 6,
  // The logger already runs in this process; configuration can no longer change.
  ZMQ_ADAPTOR_ERR_ALREADY_STARTED = 7,
  // The operation did not complete before its timeout.
  ZMQ_ADAPTOR_ERR_TIMEOUT = 8,
  // libzmq reported an error.
  ZMQ_ADAPTOR_ERR_ZMQ = 9,
  // An internal panic was caught at the boundary; the call had no effect.
  ZMQ_ADAPTOR_ERR_PANIC = 10,
  // The logger is shutting down (process exit); the record was not accepted.
  ZMQ_ADAPTOR_ERR_CLOSED = 11,
  // The topic is longer than the 65535-byte topic limit.
  ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE = 12,
  // The proxy handle was already stopped.
  ZMQ_ADAPTOR_ERR_STOPPED = 13,
  // The ipc path is held by another running adaptor or proxy (its `PATH.lock`).
  ZMQ_ADAPTOR_ERR_IN_USE = 14,
  // A CURVE key is malformed (not 40 Z85 characters), `curve_public_key` does not
  // belong to `curve_secret_key`, or only some of the three keys were given.
  ZMQ_ADAPTOR_ERR_BAD_KEY = 15,
} zmq_adaptor_result;

// An adaptor proxy running in this process. Opaque; created by
// `zmq_adaptor_proxy_start`, released by `zmq_adaptor_proxy_stop`.
typedef struct zmq_adaptor_proxy zmq_adaptor_proxy;

// CURVE keys in the form `zmq_adaptor_config`'s `curve_*` fields take: 40 Z85
// characters and a NUL each.
typedef struct zmq_adaptor_curve_keys {
  // The adaptor's public key (its `NAME.key` certificate): `curve_server_key`.
  char server_key[41];
  // This worker's public key: `curve_public_key`.
  char public_key[41];
  // This worker's secret key: `curve_secret_key`. Wipe it when done.
  char secret_key[41];
} zmq_adaptor_curve_keys;

// A log callback: `(level, message, length, user)`; see
// `zmq_adaptor_set_log_callback`.
typedef void (*zmq_adaptor_log_fn)(int level, const char *msg, size_t len, void *user);

// Logger settings for `zmq_adaptor_configure`. Fill with
// `zmq_adaptor_config_init` first; a zero (or NULL `endpoint`) field means "default".
typedef struct zmq_adaptor_config {
  // Adaptor listen endpoint the publisher connects to, NUL-terminated
  // (default `ipc:///tmp/nginx_queue_listen`, or `$ZMQ_ADAPTOR_ENDPOINT`). Borrowed:
  // copied during the call.
  const char *endpoint;
  // Queue bound in records (default 65536, at most 1048576: the ring's slots are
  // allocated when the logger starts).
  size_t queue_records;
  // Queue bound in payload bytes (default 64 MiB, at most 1 GiB).
  size_t queue_bytes;
  // Largest record accepted, topic included (default 64 KiB, at most 16 MiB and
  // at most `queue_bytes`).
  size_t max_record_bytes;
  // libzmq send high-water mark in messages (default 100000, at most 10000000).
  uint32_t send_hwm;
  // Drainer wake interval in microseconds (default 10000, 50..10000000).
  uint32_t batch_interval_us;
  // Queue depth that wakes the drainer early (default 4096, at most 1048576; the
  // wake happens at `min(batch_records, queue_records)`).
  uint32_t batch_records;
  // Longest wait at process exit to deliver queued records, in ms (default 2000,
  // at most 600000).
  uint32_t linger_ms;
  // Public key of the adaptor (its `NAME.key` certificate), 40 Z85 characters,
  // NUL-terminated: the publisher becomes a CURVE client. NULL (default): no
  // encryption. Borrowed: copied during the call. The three `curve_*` keys are
  // given together or not at all; otherwise `ZMQ_ADAPTOR_ERR_BAD_KEY`.
  const char *curve_server_key;
  // This worker's CURVE public key (Z85, 40 characters); its certificate must be
  // in the adaptor's `--curve-clients` directory. NULL: no encryption.
  const char *curve_public_key;
  // This worker's CURVE secret key (Z85, 40 characters). Never logged or echoed in
  // errors. NULL: no encryption.
  const char *curve_secret_key;
} zmq_adaptor_config;

// A function returning a timeout in milliseconds; see `zmq_adaptor_watch_shutdown`.
typedef uint32_t (*zmq_adaptor_timeout_fn)(void);

// A snapshot of the logger counters of the calling process.
//
// All counts start at zero when the logger starts in a process (first record after
// start-up or after `fork`). `queue_records`/`queue_bytes`/`in_flight` are current
// levels. Accounting: `enqueued == delivered + in_flight + queue_records +
// undelivered` once the drainer is idle; refused records (`dropped_*`) were never
// accepted.
typedef struct zmq_adaptor_stats {
  // Records accepted into the queue.
  uint64_t enqueued;
  // Records handed to libzmq for delivery to the adaptor (first sends only).
  uint64_t sent;
  // Records refused because the queue was at its record or byte bound.
  uint64_t dropped_queue_full;
  // Records refused because they were larger than `max_record_bytes`.
  uint64_t dropped_too_large;
  // Records waiting in the queue now.
  uint64_t queue_records;
  // Payload bytes held now: queued, or sent and awaiting the adaptor's acknowledgement.
  uint64_t queue_bytes;
  // Times libzmq refused a send at its high-water mark; the batch was kept and retried.
  uint64_t send_retries;
  // 1 while a live adaptor is known (its heartbeats arrive and it takes records), else 0.
  uint64_t peer_subscribed;
  // libzmq errors met by the drainer (connect or send); see the log for details.
  uint64_t zmq_errors;
  // Records the adaptor acknowledged (forwarded): they left this process's accounting.
  uint64_t delivered;
  // Records sent to the adaptor and not yet acknowledged (sent again to the next
  // adaptor instance if this one goes away).
  uint64_t in_flight;
  // Accepted records given up: larger than the adaptor's message limit, or not
  // acknowledged when the logger stopped at process exit.
  uint64_t undelivered;
} zmq_adaptor_stats;

// Proxy settings for `zmq_adaptor_proxy_start`. Zero / NULL fields mean "default".
typedef struct zmq_adaptor_proxy_config {
  // XSUB bind endpoint for publishers (default `ipc:///tmp/nginx_queue_listen`).
  const char *listen;
  // XPUB bind endpoint for consumers (default `tcp://127.0.0.1:6001`).
  const char *publish;
  // Receive HWM of the listen side in messages (default 1000000).
  uint32_t listen_hwm;
  // Send HWM per consumer in messages (default 1000; the backlog holds the rest).
  uint32_t publish_hwm;
  // Mode for bound IPC socket files, e.g. 0660 (0 = leave as created).
  uint32_t ipc_mode;
  // Group (name or number) for bound IPC socket files, NUL-terminated; NULL = leave
  // as created. Borrowed: read during the call. An unknown group gives
  // `ZMQ_ADAPTOR_ERR_BAD_CONFIG`.
  const char *ipc_group;
  // Linger for messages still queued to consumers at stop, ms (default 1000).
  uint32_t linger_ms;
} zmq_adaptor_proxy_config;

// Proxy counters: messages and bytes, each side and direction, and the record
// accounting (`records_received == records_forwarded + records_dropped + records_backlog`).
typedef struct zmq_adaptor_proxy_stats {
  // Messages received from publishers.
  uint64_t frontend_msgs_in;
  // Bytes received from publishers.
  uint64_t frontend_bytes_in;
  // Messages sent towards publishers (subscriptions).
  uint64_t frontend_msgs_out;
  // Bytes sent towards publishers.
  uint64_t frontend_bytes_out;
  // Messages received from consumers (subscriptions).
  uint64_t backend_msgs_in;
  // Bytes received from consumers.
  uint64_t backend_bytes_in;
  // Messages sent to consumers.
  uint64_t backend_msgs_out;
  // Bytes sent to consumers.
  uint64_t backend_bytes_out;
  // Consumers connected now (0 when not tracked).
  uint64_t subscribers;
  // Records received (a batch from a worker counts its records; duplicates of
  // records already received do not count).
  uint64_t records_received;
  // Records handed to at least one matching consumer.
  uint64_t records_forwarded;
  // Records received that no consumer got (every reason).
  uint64_t records_dropped;
  // Records received and not yet forwarded or dropped.
  uint64_t records_backlog;
  // Records one or more lagging consumers missed while others got them.
  uint64_t consumer_drops;
} zmq_adaptor_proxy_stats;



#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Reads the adaptor's public certificate `server_cert` (`NAME.key`, or the public
// half of any certificate) and this worker's secret certificate `secret_cert`
// (`NAME.key_secret`) into `keys`, ready for `zmq_adaptor_config`'s three
// `curve_*` fields (point them at the arrays).
//
// The secret certificate is refused when group or others have any permission on
// it, when it holds no secret key, or when its public key does not belong to its
// secret key: `ZMQ_ADAPTOR_ERR_BAD_KEY`, as for an unreadable or malformed file.
// Then `err` (when not NULL and `err_len` > 0) receives a NUL-terminated reason
// naming the file (never a key); `keys` is left unchanged. NULL paths or `keys`:
// `ZMQ_ADAPTOR_ERR_NULL`.
//
// The paths are borrowed NUL-terminated strings; `keys` and `err` are caller-owned.
// Reads two small files and does nothing else: thread-safe, safe before `fork`.
int zmq_adaptor_curve_keys_load(const char *server_cert,
                                const char *secret_cert,
                                struct zmq_adaptor_curve_keys *keys,
                                char *err,
                                size_t err_len);

// Sends the library's messages to `cb` instead of standard error (NULL restores
// standard error). `cb` receives a syslog level (3 error, 4 warning, 5 notice,
// 6 info), the message (`len` bytes, not NUL-terminated, valid during the call
// only) and `user`. It may be called from the library's drainer thread and from the
// process's `atexit` handlers, so it must be thread-safe and must not call back
// into the library. The message at process exit that carries `undelivered=N` is
// logged at level 5 (notice), or 3 (error) when N > 0.
//
// Both pointers are stored, not dereferenced now; `user` may be NULL. Thread-safe.
int zmq_adaptor_set_log_callback(zmq_adaptor_log_fn cb, void *user);

// Fills `cfg` with the defaults (endpoint NULL = default endpoint).
//
// `cfg` is caller-owned; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
int zmq_adaptor_config_init(struct zmq_adaptor_config *cfg);

// Sets the logger configuration of this process (and of processes forked from it
// later). Must be called before the first record is logged in this process; after
// that it returns `ZMQ_ADAPTOR_ERR_ALREADY_STARTED` and changes nothing.
//
// `cfg` is borrowed and copied; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Returns
// `ZMQ_ADAPTOR_ERR_BAD_ENDPOINT` or `ZMQ_ADAPTOR_ERR_BAD_CONFIG` for invalid values
// (`zmq_adaptor_config_check` says which field and its bounds). Creates no ZeroMQ
// object, so it is safe before `fork`. Thread-safe.
int zmq_adaptor_configure(const struct zmq_adaptor_config *cfg);

// Checks `cfg` as `zmq_adaptor_configure` would, without storing it, and writes a
// one-line reason naming the first bad field and its bounds into `msg` (for example
// `queue_records must be 1..1048576 (got 67108864)`; an empty string when `cfg` is
// valid). Returns 0, `ZMQ_ADAPTOR_ERR_BAD_CONFIG`, `ZMQ_ADAPTOR_ERR_BAD_ENDPOINT` or
// `ZMQ_ADAPTOR_ERR_BAD_KEY` (the text names the key, never its value).
//
// `cfg` is borrowed; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. `msg` may be NULL (no text);
// otherwise it is caller-owned storage of `msg_len` bytes, always NUL-terminated
// when `msg_len > 0` (the text is cut to fit). Thread-safe.
int zmq_adaptor_config_check(const struct zmq_adaptor_config *cfg, char *msg, size_t msg_len);

// The accepted range of the numeric `zmq_adaptor_config` field called `field`
// (`"queue_records"`, `"queue_bytes"`, `"max_record_bytes"`, `"send_hwm"`,
// `"batch_interval_us"`, `"batch_records"`, `"linger_ms"`), in the field's unit.
// 0 ("default") is accepted in every field besides this range.
//
// `field` is a borrowed NUL-terminated string; `min` and `max` are caller-owned; any
// NULL gives `ZMQ_ADAPTOR_ERR_NULL`, an unknown name `ZMQ_ADAPTOR_ERR_BAD_CONFIG`.
// Thread-safe.
int zmq_adaptor_config_limit(const char *field, uint64_t *min, uint64_t *max);

// Queues one record, sent to the adaptor as one frame. Starts the logger of this
// process on first use. Never blocks; copies the bytes.
//
// `data` is borrowed for the call only. NULL `data` gives `ZMQ_ADAPTOR_ERR_NULL`;
// `len == 0` gives `ZMQ_ADAPTOR_ERR_EMPTY`; a record over `max_record_bytes` gives
// `ZMQ_ADAPTOR_ERR_TOO_LARGE`; a full queue gives `ZMQ_ADAPTOR_ERR_QUEUE_FULL`.
// Refused records are counted in the stats. Thread-safe.
int zmq_adaptor_log(const uint8_t *data, size_t len);

// Queues a two-frame message `[topic, record]`; subscribers filter on the topic
// prefix. Same rules as `zmq_adaptor_log`; an empty topic gives
// `ZMQ_ADAPTOR_ERR_EMPTY`, one over 65535 bytes `ZMQ_ADAPTOR_ERR_TOPIC_TOO_LARGE`.
//
// Both buffers are borrowed for the call only; NULL gives `ZMQ_ADAPTOR_ERR_NULL`.
// Thread-safe.
int zmq_adaptor_publish(const uint8_t *topic, size_t topic_len, const uint8_t *data, size_t len);

// Tells the library how its host shuts down, so that the exit wait never keeps the
// process past the host's own deadline: `flag` is the address of a word that turns
// non-zero when the host begins a graceful shutdown (nginx: `&ngx_exiting`), and
// `timeout_ms` returns the host's shutdown timeout then (nginx:
// `worker_shutdown_timeout`; 0 means none). From the moment the flag turns with a
// timeout, queued records are sent at once, and the exit wait ends at that moment
// plus the timeout (with 100 ms of grace) or after the linger, whichever comes
// first. NULL `flag` clears the watch; a NULL `timeout_ms`, or one returning 0,
// leaves the linger alone in charge.
//
// Both are stored and read later from the drainer thread: `flag` must stay valid
// for the life of the process and `timeout_ms` must be thread-safe. Thread-safe.
int zmq_adaptor_watch_shutdown(const size_t *flag, zmq_adaptor_timeout_fn timeout_ms);

// Stops this process's logger now, as the `atexit` hook would: refuses new records
// (`ZMQ_ADAPTOR_ERR_CLOSED`), waits up to `linger_ms` (0: the configured linger) for
// the adaptor to acknowledge everything accepted, closes the ZeroMQ socket and logs
// the accounting line (`undelivered=N`) through the log callback. For embedders
// whose log callback or code goes away before `exit()` (an nginx module unloaded by
// its pool cleanup): call it from their own exit hook. Returns 0 (also when the
// logger never started); later calls and the `atexit` hook do nothing.
// Thread-safe; blocks the caller up to the linger.
int zmq_adaptor_shutdown(uint32_t linger_ms);

// Waits up to `timeout_ms` until the adaptor acknowledged every record accepted in
// this process before the call (or the record was given up as larger than the
// adaptor takes, which is counted). Returns 0 then (also when nothing was ever
// logged), `ZMQ_ADAPTOR_ERR_TIMEOUT` otherwise (records stay queued). Thread-safe; blocks
// the caller only, never the request path of other threads.
int zmq_adaptor_flush(uint32_t timeout_ms);

// Fills `out` with this process's logger counters (zeros before the first record).
//
// `out` is caller-owned; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
int zmq_adaptor_stats_get(struct zmq_adaptor_stats *out);

// A static, NUL-terminated description of a result code. Never NULL: unknown codes
// give "unknown result code". The string is owned by the library; do not free it.
// Thread-safe.
const char *zmq_adaptor_strerror(int code);

// The library's version as a static NUL-terminated string "MAJOR.MINOR.PATCH"
// (compare with `ZMQ_ADAPTOR_VERSION_STRING` from the header you compiled against).
// Never NULL; the caller must not free it. Thread-safe.
const char *zmq_adaptor_version(void);

// 1 when the linked libzmq has `capability` (for example "curve", "ipc"), 0 when
// not or when `capability` is NULL. Thread-safe.
int zmq_adaptor_zmq_has(const char *capability);

// Starts a forwarding proxy (XSUB on `listen` → XPUB on `publish`) in background
// threads and stores its handle in `*out`.
//
// `cfg` is borrowed (NULL = all defaults); `out` must not be NULL
// (`ZMQ_ADAPTOR_ERR_NULL`). On success the caller owns `*out` and must release it
// with `zmq_adaptor_proxy_stop`; on failure `*out` is set to NULL and the code says
// why (`ZMQ_ADAPTOR_ERR_BAD_ENDPOINT`, `ZMQ_ADAPTOR_ERR_IN_USE` when another adaptor
// or proxy holds an ipc path (of two starting at once exactly one wins),
// `ZMQ_ADAPTOR_ERR_ZMQ` for another bind failure).
// Thread-safe.
int zmq_adaptor_proxy_start(const struct zmq_adaptor_proxy_config *cfg,
                            struct zmq_adaptor_proxy **out);

// Pauses forwarding (messages wait up to the HWMs). `proxy` is borrowed; NULL gives
// `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
int zmq_adaptor_proxy_pause(const struct zmq_adaptor_proxy *proxy);

// Resumes forwarding after a pause. `proxy` is borrowed; NULL gives
// `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
int zmq_adaptor_proxy_resume(const struct zmq_adaptor_proxy *proxy);

// Fills `out` with the proxy's counters (waits at most 1 s for the proxy thread).
// Both pointers are borrowed; NULL gives `ZMQ_ADAPTOR_ERR_NULL`. Thread-safe.
int zmq_adaptor_proxy_stats_get(const struct zmq_adaptor_proxy *proxy,
                                struct zmq_adaptor_proxy_stats *out);

// Stops the proxy, closes its sockets and frees the handle. Takes ownership of
// `proxy`: do not use it afterwards. NULL is a no-op returning
// `ZMQ_ADAPTOR_ERR_NULL`. Returns within the configured linger. Not to be called
// concurrently with other calls on the same handle.
int zmq_adaptor_proxy_stop(struct zmq_adaptor_proxy *proxy);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* ZMQ_ADAPTOR_H */

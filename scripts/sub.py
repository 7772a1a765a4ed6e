#!/usr/bin/python3
"""Subscriber for the zmq-adaptor publish endpoint (pyzmq SUB).

Prints one message per line: a one-frame message (zmq_logger.log) as the record,
a multi-frame message (zmq_logger.publish: [topic, record]) as its frames joined by
--sep (a tab by default). Newlines and backslashes inside frames are escaped as
\\n and \\\\ so every message stays on one line; invalid UTF-8 is written as is.

Always bounded: stops after --count messages (plus --extra-wait seconds to catch
unexpected extra ones) or after --timeout seconds, whichever comes first; also on
SIGTERM/SIGINT. The number of messages received is printed to stderr at exit.

Exit status: 0 when --count was given and reached (and no more than --count arrived
during --extra-wait), or when no --count was given; 1 when fewer than --count arrived
before the timeout; 3 when more than --count arrived; 2 on bad usage.

With --packed the endpoint is an adaptor's packed stream (--publish-packed): each
message is a batch, decoded here (compression none or zstd) into its records, which
are then printed, counted and filtered by --topic like messages of the regular stream.

Examples:
  sub.py tcp://127.0.0.1:6001                       # print for 10 s
  sub.py ipc:///tmp/pub --topic usage. --count 5    # first 5 usage.* messages
  sub.py ipc:///tmp/pub --count-only --timeout 30   # just count
"""

import argparse
import collections
import os
import signal
import struct
import sys
import time

try:
    import zmq
except ImportError:  # pragma: no cover - environment problem, explained to the user
    sys.stderr.write(
        "sub.py: the pyzmq module is missing; run it with /usr/bin/python3 "
        "(Debian package python3-zmq)\n")
    sys.exit(2)

_stop = False


def _on_signal(_signum, _frame):
    global _stop
    _stop = True


PROBE_PREFIX = b"\x00zl-probe"


def probe(ctx, sock, listen_endpoint, deadline, pending):
    """Publishes probes into the adaptor until the subscriber receives one.

    Other messages received meanwhile are appended to `pending`."""
    topic = PROBE_PREFIX + b"-%d" % os.getpid()
    sock.setsockopt(zmq.SUBSCRIBE, topic)
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    try:
        pub.connect(listen_endpoint)
        while time.monotonic() < deadline and not _stop:
            pub.send_multipart([topic, b"probe"])
            if sock.poll(20, zmq.POLLIN):
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if frames and frames[0] == topic:
                        return True
                    pending.append(frames)
        return False
    finally:
        pub.close()


PACKED_SIGNATURE = b"\xffZAK\x01"


def packed_records(frames):
    """The records of one packed-stream message as lists of frames ([record] or
    [topic, record]); layout in src/wire.rs and src/packed.rs."""
    if len(frames) != 2 or frames[0] != PACKED_SIGNATURE or not frames[1]:
        raise ValueError("not a packed message")
    kind, body = frames[1][0], frames[1][1:]
    if kind == 1:
        import zstandard  # apt install python3-zstandard
        body = zstandard.ZstdDecompressor().decompress(body, max_output_size=256 << 20)
    elif kind != 0:
        raise ValueError("compression %d: use none or zstd" % kind)
    count = struct.unpack_from("<I", body, 20)[0]
    off, out = 32, []
    for _ in range(count):
        tlen, rlen = struct.unpack_from("<HI", body, off)
        off += 6
        topic, rec = body[off:off + tlen], body[off + tlen:off + tlen + rlen]
        off += tlen + rlen
        out.append([topic, rec] if tlen else [rec])
    return out


class PackedSocket:
    """A SUB on a packed stream that hands out records like a regular SUB hands out
    messages (recv_multipart, poll), filtered by the subscribed prefixes."""

    def __init__(self, sock):
        self.sock, self.prefixes, self.queue = sock, [], collections.deque()
        sock.setsockopt(zmq.SUBSCRIBE, PACKED_SIGNATURE)

    def setsockopt(self, opt, value):
        if opt == zmq.SUBSCRIBE:
            self.prefixes.append(value)
        else:
            self.sock.setsockopt(opt, value)

    def poll(self, timeout, flags=zmq.POLLIN):
        return flags if self.queue else self.sock.poll(timeout, flags)

    def recv_multipart(self, flags=0):
        while not self.queue:
            frames = self.sock.recv_multipart(flags)
            try:
                records = packed_records(frames)
            except (ValueError, struct.error) as e:
                sys.stderr.write("sub.py: skipped a malformed packed message: %s\n" % e)
                continue
            self.queue.extend(r for r in records
                              if any(r[0].startswith(p) for p in self.prefixes))
        return self.queue.popleft()

    def __getattr__(self, name):  # connect, close, ...: the SUB's own
        return getattr(self.sock, name)


def escape(frame: bytes) -> bytes:
    return frame.replace(b"\\", b"\\\\").replace(b"\n", b"\\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("endpoint", help="publish endpoint of zmq-adaptor (its -p)")
    ap.add_argument("topic_pos", nargs="?", default=None, metavar="TOPIC",
                    help="topic prefix (same as --topic)")
    ap.add_argument("--topic", default=None,
                    help="subscribe to this prefix only (default: everything); "
                         "may be given several times separated by commas")
    ap.add_argument("--count", type=int, default=0,
                    help="stop after this many messages (0 = no limit)")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="stop after this many seconds in any case (default 10)")
    ap.add_argument("--extra-wait", type=float, default=0.0,
                    help="after --count messages, keep receiving this many seconds "
                         "to detect extra messages")
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--sep", default="\t", help="separator between frames (default tab)")
    ap.add_argument("--count-only", action="store_true",
                    help="print nothing per message, only the count at the end (stdout)")
    ap.add_argument("--ready", default=None,
                    help="create this file once connected and subscribed (with --probe: "
                         "once a probe went through the adaptor)")
    ap.add_argument("--probe", default=None, metavar="LISTEN_ENDPOINT",
                    help="the adaptor's listen endpoint (its -b): before reporting ready, "
                         "publish probe messages there until one comes back, which proves "
                         "the adaptor forwards to this subscriber. Probes are not printed "
                         "or counted (by any sub.py)")
    ap.add_argument("--pid-file", default=None, help="write the process id here")
    ap.add_argument("--packed", action="store_true",
                    help="the endpoint is a packed stream (zmq-adaptor --publish-packed)")
    args = ap.parse_args()

    topic = args.topic if args.topic is not None else args.topic_pos
    topics = [t for t in topic.split(",")] if topic else [""]
    if args.timeout <= 0:
        ap.error("--timeout must be positive")

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())

    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    if args.packed:
        sock = PackedSocket(sock)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    for t in topics:
        sock.setsockopt(zmq.SUBSCRIBE, t.encode())
    try:
        sock.connect(args.endpoint)
    except zmq.ZMQError as e:
        sys.stderr.write("sub.py: cannot connect to %s: %s\n" % (args.endpoint, e))
        return 2

    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    sep = args.sep.encode()
    start = time.monotonic()
    deadline = start + args.timeout
    pending = []
    if args.probe:
        if not probe(ctx, sock, args.probe, deadline, pending):
            sys.stderr.write("sub.py: no probe came back through the adaptor (%s -> %s) "
                             "within the timeout\n" % (args.probe, args.endpoint))
            return 1
    elif args.ready:
        # Give the connection a moment so the subscription reaches the adaptor.
        time.sleep(0.2)
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("ready\n")
        os.rename(args.ready + ".tmp", args.ready)

    received = 0
    reached_at = None
    while not _stop:
        now = time.monotonic()
        end = deadline
        if reached_at is not None:
            end = min(end, reached_at + args.extra_wait)
        if now >= end:
            break
        if not pending:
            if not sock.poll(max(1, int(min(end - now, 0.2) * 1000)), zmq.POLLIN):
                continue
        for _ in range(10000):  # bounded, so the deadline is rechecked under load
            if pending:
                frames = pending.pop(0)
            else:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
            if frames and frames[0].startswith(PROBE_PREFIX):
                continue
            received += 1
            if not args.count_only:
                out.write(sep.join(escape(f) for f in frames) + b"\n")
            if args.count and received >= args.count and reached_at is None:
                reached_at = time.monotonic()
        if not args.count_only:
            out.flush()
    if args.count_only:
        out.write(b"%d\n" % received)
    out.flush()
    if out is not sys.stdout.buffer:
        out.close()
    sock.close()
    ctx.term()
    sys.stderr.write("sub.py: received %d message(s) in %.1f s\n"
                     % (received, time.monotonic() - start))
    if args.count:
        if received < args.count:
            return 1
        if received > args.count:
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

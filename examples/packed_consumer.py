#!/usr/bin/python3
"""Reads zmq-adaptor's packed stream (--publish-packed) and prints one record per
line: "topic<TAB>record" or "record". Batch layout: src/wire.rs, src/packed.rs.
Usage: packed_consumer.py ENDPOINT [COUNT]"""
import struct, sys
import zmq

def records(frame):
    kind, body = frame[0], frame[1:]
    if kind == 1:
        import zstandard  # apt install python3-zstandard
        body = zstandard.ZstdDecompressor().decompress(body, max_output_size=256 << 20)
    elif kind == 2:
        raise SystemExit("lz4: use the Rust decoder (zmq_adaptor::packed::decode)")
    pid, boot, first_seq, count, acked = struct.unpack_from("<IQQIQ", body)
    off = 32
    for i in range(count):
        tlen, rlen = struct.unpack_from("<HI", body, off)
        off += 6
        topic, rec = body[off:off + tlen], body[off + tlen:off + tlen + rlen]
        off += tlen + rlen
        yield (pid, boot, first_seq + i), topic, rec

sub = zmq.Context().socket(zmq.SUB)
sub.connect(sys.argv[1])
sub.setsockopt(zmq.SUBSCRIBE, b"\xffZAK\x01")
left = int(sys.argv[2]) if len(sys.argv) > 2 else None
while left is None or left > 0:
    sig, frame = sub.recv_multipart()
    for _id, topic, rec in records(frame):
        out = topic + b"\t" + rec if topic else rec
        sys.stdout.buffer.write(out + b"\n")
        if left is not None:
            left -= 1
    sys.stdout.flush()

#!/usr/bin/env python3
"""grpc_peer.py — a real gRPC peer (python3-grpcio) for the HTTP/2 tests.

  grpc_peer.py server PORT        serve service t.T on 127.0.0.1:PORT
  grpc_peer.py client HOST:PORT   run every case against it; exit 1 on any
                                  mismatch, printing one line per case
  grpc_peer.py slow HOST:PORT N   N concurrent 3 s calls on one channel; prints
                                  "slow ok N" if every one returned "late"

Methods (raw bytes, no protobuf needed): U unary (reverses; b"fail" aborts
NOT_FOUND with a message), S server-streaming, C client-streaming (sums
lengths), B bidi (upper-cases), Slow (sleeps 3 s), Big (returns N bytes).
"""
import sys
import threading
import time
from concurrent import futures

import grpc

IDENT = lambda b: b  # noqa: E731


def serve(port):
    def unary(req, ctx):
        if req == b"fail":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        ctx.set_trailing_metadata((("x-trailer", "kept"),))
        return req[::-1]

    def sstream(req, ctx):
        for i in range(int(req)):
            yield b"item-%d" % i

    def cstream(it, ctx):
        return b"%d" % sum(len(x) for x in it)

    def bidi(it, ctx):
        for x in it:
            yield x.upper()

    def slow(req, ctx):
        time.sleep(3)
        return b"late"

    def big(req, ctx):
        return b"z" * int(req)

    h = grpc.method_handlers_generic_handler("t.T", {
        "U": grpc.unary_unary_rpc_method_handler(unary, IDENT, IDENT),
        "S": grpc.unary_stream_rpc_method_handler(sstream, IDENT, IDENT),
        "C": grpc.stream_unary_rpc_method_handler(cstream, IDENT, IDENT),
        "B": grpc.stream_stream_rpc_method_handler(bidi, IDENT, IDENT),
        "Slow": grpc.unary_unary_rpc_method_handler(slow, IDENT, IDENT),
        "Big": grpc.unary_unary_rpc_method_handler(big, IDENT, IDENT),
    })
    s = grpc.server(futures.ThreadPoolExecutor(16),
                    options=[("grpc.max_send_message_length", 64 << 20),
                             ("grpc.max_receive_message_length", 64 << 20)])
    s.add_generic_rpc_handlers((h,))
    s.add_insecure_port("127.0.0.1:%d" % port)
    s.start()
    s.wait_for_termination()


def client(target):
    ch = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20),
                                                ("grpc.max_send_message_length", 64 << 20)])
    m = {n: getattr(ch, kind)("/t.T/" + n, IDENT, IDENT) for n, kind in (
        ("U", "unary_unary"), ("S", "unary_stream"), ("C", "stream_unary"),
        ("B", "stream_stream"), ("Slow", "unary_unary"), ("Big", "unary_unary"))}
    failures = 0

    def check(name, got, want):
        nonlocal failures
        ok = got == want
        failures += not ok
        print("%-28s %s%s" % (name, "ok" if ok else "FAIL", "" if ok else " got=%r want=%r" % (got, want)))

    resp, call = m["U"].with_call(b"hello", timeout=5)
    check("unary", resp, b"olleh")
    check("unary trailers", dict(call.trailing_metadata()).get("x-trailer"), "kept")
    try:
        m["U"](b"fail", timeout=5)
        check("error status", "no error", "NOT_FOUND")
    except grpc.RpcError as e:
        check("error status", (e.code(), e.details()), (grpc.StatusCode.NOT_FOUND, "no such thing"))
    check("server streaming", list(m["S"](b"50", timeout=5)), [b"item-%d" % i for i in range(50)])
    check("client streaming", m["C"](iter([b"ab", b"cde", b"x" * 300000]), timeout=10), b"300005")
    check("bidi streaming", list(m["B"](iter([b"a", b"b", b"c"]), timeout=5)), [b"A", b"B", b"C"])
    check("big response (8 MiB)", len(m["Big"](b"%d" % (8 << 20), timeout=20)), 8 << 20)
    try:
        m["Slow"](b"x", timeout=0.5)
        check("deadline", "completed", "DEADLINE_EXCEEDED")
    except grpc.RpcError as e:
        check("deadline", e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    # One slow stream must not hold back the others on the same connection.
    slow_done = threading.Event()
    def run_slow():
        m["Slow"](b"x", timeout=10)
        slow_done.set()
    t = threading.Thread(target=run_slow)
    t.start()
    time.sleep(0.2)
    fast = [m["U"](b"n%d" % i, timeout=5) for i in range(50)]
    check("50 calls beside a slow one", (fast[-1], slow_done.is_set()), (b"94n", False))
    t.join()
    check("slow call completed", slow_done.is_set(), True)
    print("%d failures" % failures)
    return 1 if failures else 0


def slow_calls(target, n):
    ch = grpc.insecure_channel(target)
    slow = ch.unary_unary("/t.T/Slow", IDENT, IDENT)
    futs = [slow.future(b"x", timeout=20) for _ in range(n)]
    ok = 0
    for f in futs:
        try:
            ok += f.result() == b"late"
        except grpc.RpcError as e:
            print("slow call failed:", e.code(), e.details())
    print("slow ok %d" % ok)
    return 0 if ok == n else 1


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    elif sys.argv[1] == "slow":
        sys.exit(slow_calls(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(client(sys.argv[2]))

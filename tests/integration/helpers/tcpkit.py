#!/usr/bin/python3
"""tcpkit — small TCP peers for weft's integration tests.

These cover the socket-level behaviours that off-the-shelf tools cannot
script precisely (server-speaks-first timing, half-close, mid-stream resets,
paced streams, thousands of idle connections, malformed HTTP). Every mode is
bounded in time; servers run until killed by the test's cleanup.

Clients print exactly one JSON object on stdout; servers print one JSON
object per finished connection (flushed), so a test can read them from the
server's log file.
"""
import argparse
import hashlib
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time

XFER_MAGIC = b"WEFTXFER\n"  # fixed first bytes: not HTTP, not TLS


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def listen(port, host="0.0.0.0", backlog=4096):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def serve_forever(port, handler):
    ls = listen(port)
    while True:
        c, peer = ls.accept()
        threading.Thread(target=handler, args=(c, peer), daemon=True).start()


def recv_line(sock, limit=65536):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        buf += chunk
        if len(buf) >= limit:
            break
    return buf


def connect(host, port, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    return s


def classify_exc(e):
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, BrokenPipeError):
        return "broken_pipe"
    return "error:" + type(e).__name__ + ":" + str(e)


def rand_stream(total, chunk=1 << 20, prefix=b""):
    """Yields `total` bytes: prefix, then random data."""
    first = prefix[:total]
    if first:
        yield first
    left = total - len(first)
    while left > 0:
        n = min(chunk, left)
        yield os.urandom(n)
        left -= n


# --- server-speaks-first ---------------------------------------------------

def banner_server(a):
    banner = a.banner.encode() + b"\n"

    def handle(c, peer):
        with c:
            try:
                c.sendall(banner)
                while True:
                    line = recv_line(c)
                    if not line:
                        break
                    c.sendall(line.upper())
            except OSError:
                pass

    serve_forever(a.port, handle)


def banner_client(a):
    t0 = time.monotonic()
    res = {}
    try:
        s = connect(a.host, a.port, a.timeout)
        res["connect_s"] = round(time.monotonic() - t0, 4)
        s.settimeout(a.timeout)
        line = recv_line(s)
        res["delay_s"] = round(time.monotonic() - t0, 4)
        res["banner"] = line.decode(errors="replace").rstrip("\n")
        s.sendall(b"ping\n")
        res["echo"] = recv_line(s).decode(errors="replace").rstrip("\n")
        s.close()
        res["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - reported, the test asserts
        res["status"] = classify_exc(e)
        res["delay_s"] = round(time.monotonic() - t0, 4)
    out(res)


# --- echo ------------------------------------------------------------------

def echo_server(a):
    def handle(c, peer):
        with c:
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
            except OSError:
                pass

    serve_forever(a.port, handle)


def echo_client(a):
    """Sends a line, expects it back, then half-closes and expects EOF."""
    t0 = time.monotonic()
    msg = (a.message + "\n").encode()
    res = {}
    try:
        s = connect(a.host, a.port, a.timeout)
        s.settimeout(a.timeout)
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(65536)
            if not d:
                break
            got += d
        res["reply"] = got.decode(errors="replace").rstrip("\n")
        res["status"] = "ok" if got == msg else ("eof" if not got else "mismatch")
        s.close()
    except Exception as e:  # noqa: BLE001
        res["status"] = classify_exc(e)
    res["elapsed_s"] = round(time.monotonic() - t0, 4)
    out(res)


# --- bulk transfer with half-close -----------------------------------------

def xfer_server(a):
    """Per connection: read to EOF (hashing), then send --bytes, then close."""

    def handle(c, peer):
        res = {"peer": "%s:%d" % peer}
        h_in, n_in = hashlib.sha256(), 0
        t0 = time.monotonic()
        try:
            while True:
                d = c.recv(1 << 20)
                if not d:
                    break
                h_in.update(d)
                n_in += len(d)
            res["recv_bytes"], res["recv_sha256"] = n_in, h_in.hexdigest()
            res["recv_s"] = round(time.monotonic() - t0, 3)
            h_out, n_out = hashlib.sha256(), 0
            for chunk in rand_stream(a.bytes, prefix=XFER_MAGIC):
                c.sendall(chunk)
                h_out.update(chunk)
                n_out += len(chunk)
            res["sent_bytes"], res["sent_sha256"] = n_out, h_out.hexdigest()
            c.shutdown(socket.SHUT_WR)
            res["status"] = "ok"
        except Exception as e:  # noqa: BLE001
            res["status"] = classify_exc(e)
        finally:
            c.close()
        out(res)

    serve_forever(a.port, handle)


def xfer_client(a):
    res = {}
    t0 = time.monotonic()
    try:
        s = connect(a.host, a.port, a.timeout)
        s.settimeout(a.timeout)
        h_out, n_out = hashlib.sha256(), 0
        for chunk in rand_stream(a.bytes, prefix=XFER_MAGIC):
            s.sendall(chunk)
            h_out.update(chunk)
            n_out += len(chunk)
        s.shutdown(socket.SHUT_WR)  # half-close: the server replies only after EOF
        res["sent_bytes"], res["sent_sha256"] = n_out, h_out.hexdigest()
        res["send_s"] = round(time.monotonic() - t0, 3)
        t1 = time.monotonic()
        h_in, n_in = hashlib.sha256(), 0
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            h_in.update(d)
            n_in += len(d)
        res["recv_bytes"], res["recv_sha256"] = n_in, h_in.hexdigest()
        res["recv_s"] = round(time.monotonic() - t1, 3)
        s.close()
        res["status"] = "ok"
    except Exception as e:  # noqa: BLE001
        res["status"] = classify_exc(e)
    res["total_s"] = round(time.monotonic() - t0, 3)
    out(res)


# --- resets ----------------------------------------------------------------

def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def reset_server(a):
    """The client's first line picks the behaviour:
    RESETME   -> reply "partial", wait for "more", then close with RST.
    WILLRESET -> reply "ok", then report how the connection ended
                 (the client is expected to reset it).
    anything else -> echo it back, then echo until EOF."""

    def handle(c, peer):
        res = {"peer": "%s:%d" % peer}
        try:
            c.settimeout(a.timeout)
            first = recv_line(c)
            res["first"] = first.decode(errors="replace").rstrip("\n")
            if first == b"RESETME\n":
                c.sendall(b"partial\n")
                res["second"] = recv_line(c).decode(errors="replace").rstrip("\n")
                rst_close(c)
                res["status"] = "sent_reset"
                out(res)
                return
            if first == b"WILLRESET\n":
                c.sendall(b"ok\n")
                try:
                    d = c.recv(65536)
                    res["status"] = "eof" if not d else "data"
                except Exception as e:  # noqa: BLE001
                    res["status"] = classify_exc(e)
                c.close()
                out(res)
                return
            c.sendall(first)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            res["status"] = "echo_done"
            c.close()
        except Exception as e:  # noqa: BLE001
            res["status"] = classify_exc(e)
            c.close()
        out(res)

    serve_forever(a.port, handle)


def reset_client(a):
    res = {"mode": a.mode}
    t0 = time.monotonic()
    try:
        s = connect(a.host, a.port, a.timeout)
        s.settimeout(a.timeout)
        if a.mode == "server-resets":
            s.sendall(b"RESETME\n")
            res["got"] = recv_line(s).decode(errors="replace").rstrip("\n")
            s.sendall(b"more\n")
            try:
                d = s.recv(65536)
                res["status"] = "eof" if not d else "data"
            except Exception as e:  # noqa: BLE001
                res["status"] = classify_exc(e)
        elif a.mode == "client-resets":
            s.sendall(b"WILLRESET\n")
            res["got"] = recv_line(s).decode(errors="replace").rstrip("\n")
            rst_close(s)
            res["status"] = "sent_reset"
        else:
            raise SystemExit("unknown mode")
    except Exception as e:  # noqa: BLE001
        res["status"] = classify_exc(e)
    res["elapsed_s"] = round(time.monotonic() - t0, 3)
    out(res)


# --- paced stream (for graceful shutdown) ----------------------------------

def stream_server(a):
    """Per connection: wait for a line, then send --bytes evenly over
    --seconds, then close."""

    def handle(c, peer):
        res = {"peer": "%s:%d" % peer}
        try:
            recv_line(c)
            h, n = hashlib.sha256(), 0
            chunk = 64 * 1024
            steps = max(1, a.bytes // chunk)
            interval = a.seconds / steps
            t0 = time.monotonic()
            for i, d in enumerate(rand_stream(a.bytes, chunk=chunk, prefix=XFER_MAGIC)):
                c.sendall(d)
                h.update(d)
                n += len(d)
                due = t0 + (i + 1) * interval
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
            c.shutdown(socket.SHUT_WR)
            res.update(status="ok", sent_bytes=n, sent_sha256=h.hexdigest(),
                       seconds=round(time.monotonic() - t0, 3))
        except Exception as e:  # noqa: BLE001
            res["status"] = classify_exc(e)
        finally:
            c.close()
        out(res)

    serve_forever(a.port, handle)


def stream_client(a):
    """Sends a line, reads to EOF; writes bytes received so far to
    --progress so the test can act mid-transfer."""
    res = {}
    t0 = time.monotonic()
    h, n = hashlib.sha256(), 0
    last = 0.0

    def progress():
        if a.progress:
            tmp = a.progress + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % n)
            os.rename(tmp, a.progress)

    try:
        s = connect(a.host, a.port, a.timeout)
        s.settimeout(a.timeout)
        s.sendall(b"GO\n")
        progress()
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            h.update(d)
            n += len(d)
            now = time.monotonic()
            if now - last > 0.05:
                progress()
                last = now
        res["status"] = "eof"
    except Exception as e:  # noqa: BLE001
        res["status"] = classify_exc(e)
    progress()
    res.update(recv_bytes=n, recv_sha256=h.hexdigest(), total_s=round(time.monotonic() - t0, 3),
               end_monotonic=time.monotonic())
    out(res)


def hold_one(a):
    """Opens one connection, checks it with an echo, then holds it until the
    peer closes it or --max-seconds pass. Reports how it ended."""
    res = {}
    t0 = time.monotonic()
    try:
        s = connect(a.host, a.port, a.timeout)
        s.settimeout(a.timeout)
        s.sendall(b"hold\n")
        res["echo"] = recv_line(s).decode(errors="replace").rstrip("\n")
        if a.ready_file:
            open(a.ready_file, "w").close()
        s.settimeout(a.max_seconds)
        try:
            d = s.recv(65536)
            res["status"] = "eof" if not d else "data"
        except Exception as e:  # noqa: BLE001
            res["status"] = classify_exc(e)
    except Exception as e:  # noqa: BLE001
        res["status"] = classify_exc(e)
    res["held_s"] = round(time.monotonic() - t0, 3)
    out(res)


# --- many idle connections --------------------------------------------------

def hold_server(a):
    """Accepts and holds connections; writes the number open to --status."""
    sel = selectors.DefaultSelector()
    ls = listen(a.port)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ)
    conns = set()
    total = 0
    last_written = None
    while True:
        for key, _ in sel.select(timeout=0.2):
            if key.fileobj is ls:
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                    conns.add(c)
                    total += 1
            else:
                c = key.fileobj
                try:
                    d = c.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    sel.unregister(c)
                    conns.discard(c)
                    c.close()
        state = (len(conns), total)
        if state != last_written and a.status:
            with open(a.status + ".tmp", "w") as f:
                f.write("%d %d\n" % state)
            os.rename(a.status + ".tmp", a.status)
            last_written = state


def hold_client(a):
    """Opens -n connections (one byte sent on each), reports, waits for
    --release-file (bounded by --max-seconds), closes them all."""
    socks = []
    res = {"wanted": a.n}
    t0 = time.monotonic()
    try:
        for _ in range(a.n):
            s = connect(a.host, a.port, a.timeout)
            s.sendall(b"x")
            socks.append(s)
        res["status"] = "ok"
    except Exception as e:  # noqa: BLE001
        res["status"] = classify_exc(e)
    res["opened"] = len(socks)
    res["open_s"] = round(time.monotonic() - t0, 3)
    if a.status:
        with open(a.status + ".tmp", "w") as f:
            f.write(json.dumps(res) + "\n")
        os.rename(a.status + ".tmp", a.status)
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline and not os.path.exists(a.release_file):
        time.sleep(0.1)
    # Check they are all still alive (nothing was closed under us).
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            d = s.recv(1)
            if d:
                alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    res["alive_at_release"] = alive
    for s in socks:
        s.close()
    out(res)


# --- malformed HTTP ---------------------------------------------------------

def http_garbage(a):
    """Sends one malformed request and reports how the server reacted:
    {"result": "status", "code": N} | {"result": "closed"} | {"result": "open"}."""
    import random
    rnd = random.Random(1234)
    cases = {
        "random": bytes(rnd.getrandbits(8) for _ in range(4096)),
        "long_line": b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10240 + b"\r\n\r\n",
        "many_headers": b"GET /ready HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(1000)) + b"\r\n",
        "bad_version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        "no_crlf": b"GET /ready HTTP/1.1",
        "drip": None,
    }
    payload = cases[a.case]
    res = {"case": a.case}
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    try:
        s = connect(a.host, a.port, 5)
        if payload is None:
            # Headers that never end, one byte every 100 ms.
            drip = b"GET /ready HTTP/1.1\r\nHost: x\r\n" + b"X-Drip: y\r\n" * 10000
            s.setblocking(False)
            i = 0
            resp = b""
            while time.monotonic() < deadline:
                try:
                    s.send(drip[i:i + 1])
                    i += 1
                except BlockingIOError:
                    pass
                except OSError:
                    break
                time.sleep(0.1)
                try:
                    d = s.recv(65536)
                    if not d:
                        break
                    resp += d
                    if b"\r\n" in resp:
                        break
                except BlockingIOError:
                    pass
                except OSError:
                    break
            res["sent"] = i
        else:
            try:
                s.sendall(payload)
            except OSError as e:
                res["send_error"] = classify_exc(e)
            resp = b""
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    d = s.recv(65536)
                except (socket.timeout, TimeoutError):
                    break
                except OSError:
                    d = b""
                if not d:
                    break
                resp += d
                if b"\r\n" in resp:
                    break
        if resp.startswith(b"HTTP/1.") and len(resp) >= 12:
            res["result"] = "status"
            res["code"] = int(resp[9:12])
        elif time.monotonic() >= deadline:
            res["result"] = "open"
        else:
            res["result"] = "closed"
            res["bytes"] = len(resp)
        s.close()
    except Exception as e:  # noqa: BLE001
        res["result"] = "closed"
        res["error"] = classify_exc(e)
    res["elapsed_s"] = round(time.monotonic() - t0, 3)
    out(res)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, server):
        sp = sub.add_parser(name)
        sp.set_defaults(fn=fn)
        sp.add_argument("--port", type=int, required=True)
        if not server:
            sp.add_argument("--host", required=True)
        sp.add_argument("--timeout", type=float, default=30.0)
        return sp

    add("banner-server", banner_server, True).add_argument("--banner", default="HELLO from weft test")
    add("banner-client", banner_client, False)
    add("echo-server", echo_server, True)
    add("echo-client", echo_client, False).add_argument("--message", default="ping")
    add("xfer-server", xfer_server, True).add_argument("--bytes", type=int, required=True)
    add("xfer-client", xfer_client, False).add_argument("--bytes", type=int, required=True)
    add("reset-server", reset_server, True)
    sp = add("reset-client", reset_client, False)
    sp.add_argument("--mode", choices=["server-resets", "client-resets"], required=True)
    sp = add("stream-server", stream_server, True)
    sp.add_argument("--bytes", type=int, required=True)
    sp.add_argument("--seconds", type=float, required=True)
    add("stream-client", stream_client, False).add_argument("--progress")
    sp = add("hold-one", hold_one, False)
    sp.add_argument("--ready-file")
    sp.add_argument("--max-seconds", type=float, default=60)
    add("hold-server", hold_server, True).add_argument("--status")
    sp = add("hold-client", hold_client, False)
    sp.add_argument("-n", type=int, required=True)
    sp.add_argument("--status")
    sp.add_argument("--release-file", required=True)
    sp.add_argument("--max-seconds", type=float, default=120)
    sp = add("http-garbage", http_garbage, False)
    sp.add_argument("--case", required=True,
                    choices=["random", "long_line", "many_headers", "bad_version", "no_crlf", "drip"])
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()

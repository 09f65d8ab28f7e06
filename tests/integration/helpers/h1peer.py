#!/usr/bin/python3
"""h1peer — an HTTP/1.1 "echo-inspect" upstream and raw HTTP/1 clients for
weft's HTTP/1 transparency, error and smuggling tests.

serve --port P --log FILE
    A threaded HTTP/1.1 server that records exactly what it received and
    answers the way the request's query string says. One JSON line per
    request (or per unparsable input) is appended to FILE, flushed *before*
    the response is sent, so a client that has its answer can read the
    record:
      {"kind": "request", "conn": C, "seq": S, "peer": "ip:port",
       "method", "target", "version", "headers": [[name, value], ...]
       (in received order, names as sent), "raw_head" (latin-1),
       "framing": "chunked"|"length"|"none", "te", "cl", "chunks" (sizes),
       "chunk_exts", "trailers", "body_len", "body_sha256", "body" (first
       4 KiB, latin-1), "expect_100_sent"}
      {"kind": "partial", ...}  the head of a request whose body was cut
      {"kind": "cancelled", ...}  the peer left while the answer was delayed
      {"kind": "reject", "conn", "why", "raw" (latin-1, first 64 KiB)}
    The server is strict (CRLF only, token names, no space before ":", no
    obs-fold, CL xor chunked, exactly one Host in HTTP/1.1): what a proxy
    forwards should always pass.
    Unparsable input gets "400" with x-upstream-reject and a close, so a
    client can tell the upstream's rejections from the proxy's.

    Query parameters of the target steer the response:
      status=N reason=TEXT   status line (default 200 OK)
      rb=cl|chunked|close    body framing (default cl; close: until close)
      n=BYTES seed=S         body: BYTES deterministic bytes (see gen);
                             without n, a JSON summary of the request
      chunk=BYTES            chunk size for rb=chunked (default 65536)
      h=Name:Value           extra response header (repeatable)
      cont=0                 ignore Expect: 100-continue (send no 100)
      early=103              send a 103 Early Hints before the answer
      sleep=MS               wait before answering; if the peer closes the
                             connection meanwhile, record {"kind":
                             "cancelled", "target", "after_s"} and stop
      cut=BYTES              send the head (full length), BYTES of body, close
      gz=1                   gzip transfer coding: "gzip, chunked" (rb=chunked)
                             or "gzip" until close
      bad=KIND               an invalid response: status2000, garbage,
                             clte (CL + TE), badchunk, nocrlf, huge-cl, none
                             (close without a byte),
                             extra (a valid answer, then a second, unsolicited
                             one in the same write)
      close=1                answer with Connection: close and close
      noread=1               answer before reading the request body, then
                             close (with a lingering close, as nginx does)
      noup=1                 ignore an Upgrade request (RFC 9110 §7.8 allows
                             it): read its body and answer normally
      dropnext=1             answer normally, keep the connection, and close
                             it without a word when the next request head
                             arrives on it (a server closing an idle
                             keep-alive connection just as it is reused)
    Every normal response carries "x-upstream: h1peer".
    An Upgrade request (Connection: upgrade) is answered 101 and a CONNECT
    200; then "hello-from-upstream\\n" is sent at once (in the same write as
    the head) and every byte received is echoed until EOF.

gen --n BYTES [--seed S]
    Writes the deterministic body the server sends for n=BYTES&seed=S.

pipeline --host H --port P --n N
    Sends N GET requests in a single write, then reads N responses and
    checks each answers its own request (the JSON summary names the target).

tunnel --host H --port P --kind upgrade|connect [--bytes B]
    Upgrades (WebSocket-style handshake) or CONNECTs, expects the upstream's
    greeting, then sends messages (a few small, one of B bytes) and expects
    each echoed byte for byte; finally half-closes and expects EOF.

seq --host H --port P --req "METHOD TARGET" [--req ...] [--hdr "Name: v"]
    Sends the requests one after the other on one connection (each after
    the previous answer), reading each answer with the framing its method
    and status imply (HEAD, 204, 304: no body). After each answer without
    a body it waits 200 ms for stray bytes (a body that should not be
    there). Finally sends GET /seq-sync-<nonce> and checks that the answer
    is its own (the connection stayed in sync). Prints
    {"status": "ok", "responses": [{status, reason, fields, body_len,
    body_sha256, stray}], "in_sync": bool}.

find --log FILE --marker M
    Prints the one upstream record whose target contains M (exit 1 if
    there is not exactly one).

check-headers --log FILE --marker M --sent CURL_VERBOSE_FILE [--chunked]
    Compares the header list the upstream received (record of M) with the
    request header lines curl printed with -v ("> Name: value"): the
    received list must equal the sent one, in order, minus the hop-by-hop
    fields (Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding,
    Upgrade, Trailer, and the names listed in Connection); values compared
    without OWS. With --chunked the upstream must also have received
    exactly one "Transfer-Encoding: chunked" (re-framed, not dropped).
    Prints {"ok": bool, "sent": [...], "want": [...], "got": [...]}.

Clients print one JSON object on stdout.
"""
import argparse
import base64
import gzip
import hashlib
import json
import os
import random
import re
import select
import socket
import sys
import threading
import time
import urllib.parse

TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
REQ_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP/1\.([01])$")
GREETING = b"hello-from-upstream\n"
MAX_HEAD = 1 << 20


def gen_stream(n, seed):
    """Deterministic body bytes, 1 MiB at a time."""
    rnd = random.Random("h1peer-%s" % seed)
    left = n
    while left > 0:
        k = min(left, 1 << 20)
        yield rnd.randbytes(k)
        left -= k


class Closed(Exception):
    pass


class Reject(Exception):
    pass


class Conn:
    """A buffered reader over a socket."""

    def __init__(self, sock):
        self.s = sock
        self.buf = bytearray()
        self.raw = bytearray()  # everything received, capped, for reject records

    def fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise Closed()
        self.buf += d
        if len(self.raw) < 65536:
            self.raw += d[: 65536 - len(self.raw)]

    def read_until(self, sep, limit):
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[: i + len(sep)])
                del self.buf[: i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise Reject("line or head too long")
            start = max(0, len(self.buf) - len(sep) + 1)
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self, n):
        if not self.buf:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class Server:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.log = open(a.log, "a", encoding="utf-8")
        self.nconn = 0

    def record(self, obj):
        line = json.dumps(obj, sort_keys=True)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()

    def run(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", self.a.port))
        ls.listen(1024)
        while True:
            c, peer = ls.accept()
            with self.lock:
                self.nconn += 1
                cid = self.nconn
            threading.Thread(target=self.handle, args=(c, peer, cid), daemon=True).start()

    # -- request parsing ----------------------------------------------------

    def parse_head(self, conn):
        head = conn.read_until(b"\r\n\r\n", MAX_HEAD)
        lines = head[:-4].split(b"\r\n")
        for ln in lines:
            if b"\n" in ln or b"\r" in ln or b"\x00" in ln:
                raise Reject("bare CR/LF or NUL in head")
        m = REQ_LINE.match(lines[0])
        if not m:
            raise Reject("bad request line")
        headers = []
        for ln in lines[1:]:
            if ln[:1] in (b" ", b"\t"):
                raise Reject("obs-fold")
            name, sep, value = ln.partition(b":")
            if not sep or not TOKEN.match(name):
                raise Reject("bad field line")
            headers.append([name.decode("latin-1"), value.strip(b" \t").decode("latin-1")])
        return head, m, headers

    def read_chunked(self, conn, sink, rec):
        sizes, exts = [], []
        while True:
            line = conn.read_until(b"\r\n", 4096)[:-2]
            size_s, _, ext = line.partition(b";")
            if not re.match(rb"^[0-9a-fA-F]{1,16}$", size_s):
                raise Reject("bad chunk size %r" % line)
            size = int(size_s, 16)
            sizes.append(size)
            if ext:
                exts.append(ext.decode("latin-1"))
            if size == 0:
                break
            left = size
            while left:
                d = conn.read_some(min(left, 1 << 16))
                sink(d)
                left -= len(d)
            if conn.read_exact(2) != b"\r\n":
                raise Reject("chunk data not followed by CRLF")
        trailers = []
        while True:
            line = conn.read_until(b"\r\n", 8192)[:-2]
            if not line:
                break
            trailers.append(line.decode("latin-1"))
        rec["chunks"] = sizes[:64] + (["..."] if len(sizes) > 64 else [])
        rec["nchunks"] = len(sizes)
        rec["chunk_exts"] = exts
        rec["trailers"] = trailers

    # -- responses ----------------------------------------------------------

    @staticmethod
    def head_bytes(status, reason, fields):
        out = b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())
        for k, v in fields:
            out += k.encode("latin-1") + b": " + v.encode("latin-1") + b"\r\n"
        return out + b"\r\n"

    def wait_or_cancel(self, c, rec, seconds):
        """Sleeps, watching the connection: if the peer closes it meanwhile,
        records {"kind": "cancelled"} and returns True."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([c], [], [], min(0.05, max(0.0, end - time.monotonic())))
            if not r:
                continue
            try:
                d = c.recv(1, socket.MSG_PEEK)
            except OSError:
                d = b""
            if not d:
                self.record({"kind": "cancelled", "conn": rec["conn"], "target": rec["target"],
                             "after_s": round(seconds - (end - time.monotonic()), 3), "t": time.time()})
                return True
            time.sleep(max(0.0, end - time.monotonic()))  # pipelined bytes: just wait
        return False

    def respond(self, c, rec, q, method):
        """Sends the response; returns True if the connection must close."""
        one = lambda k, d=None: q.get(k, [d])[0]  # noqa: E731
        if one("sleep") and self.wait_or_cancel(c, rec, int(one("sleep")) / 1000.0):
            return True
        status = int(one("status", "200"))
        reason = one("reason", {200: "OK", 204: "No Content", 304: "Not Modified",
                                404: "Not Found", 500: "Internal Server Error",
                                503: "Service Unavailable"}.get(status, "Status"))
        fields = [("x-upstream", "h1peer")]
        for h in q.get("h", []):
            k, _, v = h.partition(":")
            fields.append((k, v))
        bad = one("bad")
        if bad:
            raw = {
                "status2000": b"HTTP/1.1 2000 OK\r\ncontent-length: 2\r\n\r\nok",
                "garbage": b"this is not http at all\r\n\r\n",
                "clte": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n"
                        b"0\r\n\r\n",
                "badchunk": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                "nocrlf": b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok",
                "huge-cl": b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\nok",
                "none": b"",
                "extra": b"HTTP/1.1 200 OK\r\nx-upstream: h1peer\r\ncontent-length: 5\r\n\r\nfirst"
                         b"HTTP/1.1 200 OK\r\nx-upstream: h1peer\r\nx-poison: 1\r\ncontent-length: 8\r\n\r\npoisoned",
            }[bad]
            c.sendall(raw)
            # "extra" keeps the connection open: a proxy that pooled it would
            # hand the unsolicited answer to the next request.
            return bad != "extra"
        rb = one("rb", "cl")
        close = one("close") == "1" or rec["version"] == "1.0" and not any(
            k.lower() == "connection" and "keep-alive" in v.lower() for k, v in rec["headers"])
        if rb == "close":
            close = True
        if close:
            fields.append(("connection", "close"))
        nb = one("n")
        if nb is not None:
            body_iter = gen_stream(int(nb), one("seed", "0"))
            blen = int(nb)
        else:
            summary = {k: rec[k] for k in ("method", "target", "body_len", "body_sha256",
                                           "framing", "conn", "seq")}
            b = (json.dumps(summary, sort_keys=True) + "\n").encode()
            body_iter, blen = iter([b]), len(b)
        gz = one("gz") == "1"
        if gz:  # a gzip transfer coding under chunked (or alone: until close)
            data = gzip.compress(b"".join(body_iter), mtime=0)
            body_iter, blen = iter([data]), len(data)
        no_body = method == "HEAD" or status in (204, 304)
        if status not in (204, 304):
            if rb == "cl" and not gz:
                fields.append(("content-length", str(blen)))  # HEAD: the GET's length
            elif rb == "chunked":
                fields.append(("transfer-encoding", "gzip, chunked" if gz else "chunked"))
            elif gz:
                fields.append(("transfer-encoding", "gzip"))
        cut = one("cut")
        c.sendall(self.head_bytes(status, reason, fields))
        if no_body:
            return close
        sent = 0
        chunk = int(one("chunk", "65536"))
        for piece in body_iter:
            if cut is not None and sent + len(piece) > int(cut):
                piece = piece[: int(cut) - sent]
                if rb == "chunked" and piece:
                    c.sendall(b"%x\r\n" % len(piece) + piece)
                elif piece:
                    c.sendall(piece)
                return True  # abrupt close mid-body
            if rb == "chunked":
                for i in range(0, len(piece), chunk):
                    p = piece[i:i + chunk]
                    c.sendall(b"%x\r\n" % len(p) + p + b"\r\n")
            else:
                c.sendall(piece)
            sent += len(piece)
        if rb == "chunked":
            c.sendall(b"0\r\n\r\n")
        return close

    def tunnel(self, c, conn, status_line):
        c.sendall(status_line + GREETING)
        if conn.buf:
            c.sendall(bytes(conn.buf))
            conn.buf.clear()
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            c.sendall(d)
        try:
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def handle(self, c, peer, cid):
        c.settimeout(self.a.idle)
        conn = Conn(c)
        seq = 0
        drop_next = False
        try:
            while True:
                conn.raw = bytearray(conn.buf)
                try:
                    head, m, headers = self.parse_head(conn)
                except Closed:
                    break
                if drop_next:
                    self.record({"kind": "dropped", "conn": cid, "raw_head": head.decode("latin-1"),
                                 "t": time.time()})
                    break
                seq += 1
                method = m.group(1).decode()
                target = m.group(2).decode("latin-1")
                rec = {"kind": "request", "conn": cid, "seq": seq, "peer": "%s:%d" % peer,
                       "method": method, "target": target, "version": "1." + m.group(3).decode(),
                       "headers": headers, "raw_head": head.decode("latin-1"), "t": time.time()}
                lower = [(k.lower(), v) for k, v in headers]
                te = [v for k, v in lower if k == "transfer-encoding"]
                cl = [v for k, v in lower if k == "content-length"]
                conn_opts = ",".join(v for k, v in lower if k == "connection").lower()
                rec["te"], rec["cl"] = te, cl
                if te and cl:
                    raise Reject("both Transfer-Encoding and Content-Length")
                if rec["version"] == "1.1" and sum(1 for k, _ in lower if k == "host") != 1:
                    raise Reject("HTTP/1.1 request without exactly one Host")
                if len(set(cl)) > 1 or (cl and not cl[0].isdigit()):
                    raise Reject("bad Content-Length")
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query, keep_blank_values=True)
                upgrade = "upgrade" in conn_opts and any(k == "upgrade" for k, _ in lower) \
                    and q.get("noup", [""])[0] != "1"
                if method == "CONNECT" or upgrade:
                    rec["framing"] = "none"
                    rec["body_len"] = 0
                    rec["body_sha256"] = hashlib.sha256(b"").hexdigest()
                    self.record(rec)
                    if method == "CONNECT":
                        self.tunnel(c, conn, b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    else:
                        proto = [v for k, v in lower if k == "upgrade"][0]
                        self.tunnel(c, conn, b"HTTP/1.1 101 Switching Protocols\r\n"
                                    b"Upgrade: " + proto.encode() + b"\r\nConnection: Upgrade\r\n\r\n")
                    return
                if q.get("noread", [""])[0] == "1":
                    # Answer at once, without reading the body, and close
                    # (what a server does when it refuses an upload).
                    rec["framing"] = "unread"
                    rec["body_len"] = 0
                    rec["body_sha256"] = ""
                    self.record(rec)
                    q["close"] = ["1"]
                    self.respond(c, rec, q, method)
                    try:
                        c.shutdown(socket.SHUT_WR)
                        end = time.monotonic() + 5  # lingering close: drain, so no RST eats the answer
                        while time.monotonic() < end and c.recv(1 << 16):
                            pass
                    except OSError:
                        pass
                    break
                rec["expect_100_sent"] = False
                if any(k == "expect" and v.lower() == "100-continue" for k, v in lower) and \
                        q.get("cont", ["1"])[0] != "0" and rec["version"] == "1.1":
                    if q.get("early", [""])[0] == "103":
                        c.sendall(b"HTTP/1.1 103 Early Hints\r\nlink: </x.css>; rel=preload\r\n\r\n")
                    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    rec["expect_100_sent"] = True
                h = hashlib.sha256()
                body = bytearray()
                nbody = 0

                def sink(d):
                    nonlocal nbody
                    h.update(d)
                    nbody += len(d)
                    if len(body) < 4096:
                        body.extend(d[: 4096 - len(body)])

                try:
                    if te:
                        if te[-1].split(",")[-1].strip().lower() != "chunked":
                            raise Reject("request TE without final chunked")
                        rec["framing"] = "chunked"
                        self.read_chunked(conn, sink, rec)
                    elif cl:
                        rec["framing"] = "length"
                        left = int(cl[0])
                        while left:
                            d = conn.read_some(min(left, 1 << 16))
                            sink(d)
                            left -= len(d)
                    else:
                        rec["framing"] = "none"
                except Closed:
                    # The peer closed mid-body: the request never completed.
                    rec["kind"] = "partial"
                    rec["body_len"] = nbody
                    rec["body"] = bytes(body).decode("latin-1")
                    self.record(rec)
                    raise
                rec["body_len"] = nbody
                rec["body_sha256"] = h.hexdigest()
                rec["body"] = bytes(body).decode("latin-1")
                self.record(rec)
                if q.get("early", [""])[0] == "103" and not rec["expect_100_sent"]:
                    c.sendall(b"HTTP/1.1 103 Early Hints\r\nlink: </x.css>; rel=preload\r\n\r\n")
                close = self.respond(c, rec, q, method)
                drop_next = q.get("dropnext", [""])[0] == "1"
                if close or "close" in conn_opts:
                    break
        except Reject as e:
            self.record({"kind": "reject", "conn": cid, "why": str(e),
                         "raw": bytes(conn.raw).decode("latin-1"), "t": time.time()})
            try:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nx-upstream: h1peer\r\nx-upstream-reject: "
                          + str(e).encode()[:200].replace(b"\r", b" ").replace(b"\n", b" ")
                          + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            except OSError:
                pass
        except (Closed, OSError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass


# --- client side ---------------------------------------------------------------

def read_response(conn, method="GET"):
    """Reads one response (skipping 1xx unless 101); returns a dict."""
    interim = []
    while True:
        head = conn.read_until(b"\r\n\r\n", MAX_HEAD)
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = int(parts[1])
        fields = []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            fields.append((k.decode("latin-1").lower(), v.strip().decode("latin-1")))
        if 100 <= status < 200 and status != 101:
            interim.append(status)
            continue
        break
    fd = dict(fields)
    body = bytearray()
    te = fd.get("transfer-encoding", "")
    if method == "HEAD" or status in (101, 204, 304):
        pass
    elif "chunked" in te.lower():
        while True:
            line = conn.read_until(b"\r\n", 4096)[:-2]
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while conn.read_until(b"\r\n", 8192) != b"\r\n":
                    pass
                break
            body += conn.read_exact(size)
            conn.read_exact(2)
    elif "content-length" in fd:
        body += conn.read_exact(int(fd["content-length"]))
    else:
        try:
            while True:
                conn.fill()
        except Closed:
            pass
        body += conn.buf
        conn.buf.clear()
    return {"status": status, "fields": fields, "body": bytes(body), "interim": interim}


def pipeline(a):
    res = {"n": a.n}
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.settimeout(a.timeout)
        tag = "%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        reqs = b""
        targets = []
        for i in range(a.n):
            t = "/pipe/%s/%d?h=x-seq:%d" % (tag, i, i)
            targets.append(t)
            if i % 3 == 1:  # some with a body, to show bodies don't desync the pipeline
                body = ("body-%d-" % i).encode() * 100
                reqs += (b"POST %s HTTP/1.1\r\nHost: pipe.test\r\ncontent-length: %d\r\n\r\n"
                         % (t.encode(), len(body))) + body
            else:
                reqs += b"GET %s HTTP/1.1\r\nHost: pipe.test\r\n\r\n" % t.encode()
        s.sendall(reqs)
        conn = Conn(s)
        got = []
        for i in range(a.n):
            r = read_response(conn)
            summary = json.loads(r["body"])
            got.append({"status": r["status"], "target": summary["target"],
                        "x-seq": dict(r["fields"]).get("x-seq")})
        res["in_order"] = [g["target"] for g in got] == targets and all(
            g["x-seq"] == str(i) for i, g in enumerate(got))
        res["statuses"] = sorted(set(g["status"] for g in got))
        res["got"] = got
        res["status"] = "ok"
        s.close()
    except Exception as e:  # noqa: BLE001 - reported, the test asserts
        res["status"] = "error: %s: %s" % (type(e).__name__, e)
    print(json.dumps(res, sort_keys=True))


def tunnel(a):
    res = {"kind": a.kind}
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.settimeout(a.timeout)
        if a.kind == "upgrade":
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(("GET /ws?x=1 HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        else:
            s.sendall(b"CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n")
        conn = Conn(s)
        head = conn.read_until(b"\r\n\r\n", MAX_HEAD)
        res["head"] = head.decode("latin-1")
        res["status_code"] = int(head.split(b" ", 2)[1])
        res["greeting"] = conn.read_exact(len(GREETING)).decode("latin-1")
        msgs = [b"ping-1\n", os.urandom(a.bytes), b"x" * 100000, b"last\n"]
        echoed = True
        for m in msgs:
            s.sendall(m)
            if conn.read_exact(len(m)) != m:
                echoed = False
        res["echoed"] = echoed
        res["sent_bytes"] = sum(len(m) for m in msgs)
        s.shutdown(socket.SHUT_WR)
        try:
            conn.fill()
            res["after_fin"] = "data"
        except Closed:
            res["after_fin"] = "eof"
        res["status"] = "ok"
        s.close()
    except Exception as e:  # noqa: BLE001
        res["status"] = "error: %s: %s" % (type(e).__name__, e)
    print(json.dumps(res, sort_keys=True))


def read_record(log, marker):
    out = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "request" and marker in r.get("target", ""):
                out.append(r)
    return out


def find(a):
    recs = read_record(a.log, a.marker)
    if len(recs) != 1:
        print(json.dumps({"error": "%d records for %s" % (len(recs), a.marker)}))
        sys.exit(1)
    print(json.dumps(recs[0], sort_keys=True))


HOP = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer"}


def check_headers(a):
    sent = []
    with open(a.sent, "rb") as f:
        lines = [ln.rstrip(b"\r\n") for ln in f if ln.startswith(b"> ")]
    for ln in lines[1:]:
        ln = ln[2:]
        if not ln:
            break
        k, _, v = ln.partition(b":")
        sent.append([k.decode("latin-1"), v.strip(b" \t").decode("latin-1")])
    named = set()
    for k, v in sent:
        if k.lower() == "connection":
            named |= {t.strip().lower() for t in v.split(",") if t.strip()}
    want = [[k, v] for k, v in sent if k.lower() not in HOP and k.lower() not in named]
    recs = read_record(a.log, a.marker)
    res = {"sent": sent, "want": want, "records": len(recs)}
    if len(recs) != 1:
        res["ok"] = False
        print(json.dumps(res))
        return
    got = recs[0]["headers"]
    te = [v for k, v in got if k.lower() == "transfer-encoding"]
    got_e2e = [[k, v] for k, v in got if k.lower() != "transfer-encoding"] if a.chunked else got
    res["got"] = got
    res["ok"] = got_e2e == want and (not a.chunked or (te == ["chunked"] and recs[0]["framing"] == "chunked"))
    print(json.dumps(res))


def seq(a):
    res = {"responses": []}
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.settimeout(a.timeout)
        conn = Conn(s)
        extra = "".join(h + "\r\n" for h in a.hdr)
        for r in a.req:
            method, target = r.split(" ", 1)
            s.sendall(("%s %s HTTP/1.1\r\nHost: seq.test\r\n%s\r\n" % (method, target, extra)).encode())
            resp = read_response(conn, method)
            out = {"request": r, "status": resp["status"], "fields": resp["fields"],
                   "body_len": len(resp["body"]), "body_sha256": hashlib.sha256(resp["body"]).hexdigest(),
                   "interim": resp["interim"], "stray": 0}
            if method == "HEAD" or resp["status"] in (204, 304):
                s.settimeout(0.2)
                try:
                    conn.fill()
                except (socket.timeout, Closed):
                    pass
                s.settimeout(a.timeout)
                out["stray"] = len(conn.buf)
            res["responses"].append(out)
        sync = "/seq-sync-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        s.sendall(("GET %s HTTP/1.1\r\nHost: seq.test\r\n\r\n" % sync).encode())
        resp = read_response(conn)
        try:
            res["in_sync"] = json.loads(resp["body"])["target"] == sync
        except ValueError:
            res["in_sync"] = False
        res["status"] = "ok"
        s.close()
    except Exception as e:  # noqa: BLE001
        res["status"] = "error: %s: %s" % (type(e).__name__, e)
    print(json.dumps(res, sort_keys=True))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--idle", type=float, default=120.0)
    p = sub.add_parser("gen")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", default="0")
    p = sub.add_parser("pipeline")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("tunnel")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--kind", choices=["upgrade", "connect"], required=True)
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("seq")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--req", action="append", required=True)
    p.add_argument("--hdr", action="append", default=[])
    p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("find")
    p.add_argument("--log", required=True)
    p.add_argument("--marker", required=True)
    p = sub.add_parser("check-headers")
    p.add_argument("--log", required=True)
    p.add_argument("--marker", required=True)
    p.add_argument("--sent", required=True)
    p.add_argument("--chunked", action="store_true")
    a = ap.parse_args()
    if a.cmd == "seq":
        seq(a)
    elif a.cmd == "find":
        find(a)
    elif a.cmd == "check-headers":
        check_headers(a)
    elif a.cmd == "serve":
        Server(a).run()
    elif a.cmd == "gen":
        out = sys.stdout.buffer
        for piece in gen_stream(a.n, a.seed):
            out.write(piece)
        out.flush()
    elif a.cmd == "pipeline":
        pipeline(a)
    else:
        tunnel(a)


if __name__ == "__main__":
    main()

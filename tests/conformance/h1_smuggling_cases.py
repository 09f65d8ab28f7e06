#!/usr/bin/python3
"""HTTP/1 request-smuggling / malformed-request corpus for weft-proxy.

Run by test_h1_smuggling.sh inside a pod's network namespace: every case is
sent raw to --target (a meshed server pod's address, so the bytes cross the
client pod's outbound sidecar and the server pod's inbound sidecar, or only
the inbound one when this runs in an unmeshed pod), where a recording
upstream (tests/integration/helpers/h1peer.py serve) logs exactly what
reaches the application.

Expected answers come from RFC 9112 / RFC 9110 and from the parser's
documented choices (src/lib/http1/h1.h, h1_head.c, h1_field.c,
h1_chunked.c) and the detector's (src/proxy/detect.c):
  - anything two implementations could frame differently is an error: 400
    (CL+TE, conflicting or malformed Content-Length, obs-fold, bare CR/LF,
    NUL/CTL, whitespace before ":", bad chunk sizes/extensions, Connection
    naming Content-Length/Host, missing or repeated Host in 1.1, ...);
  - unknown transfer coding 501; well-formed but unsupported version 505;
    request-target > 8 KiB 414; head > 60 KiB or > 100 fields 431;
  - a rejection closes the connection (RFC 9112 §9.6 / the proxy's choice);
  - valid-but-odd input (OWS around values, upper-case "CHUNKED", leading
    zeros, chunk extensions, obs-text, empty lines before a request-line,
    absolute-form, "OPTIONS *") is served, and the application receives
    exactly one request per request the client sent.
  - Detection (detect.c) only routes a connection to the HTTP/1 codec when
    its first line looks like `token SP target SP HTTP/1.[01] CRLF` within
    1 KiB; any other first line makes the whole connection an opaque byte
    relay. So a malformed request-line is sent both as the first request
    ("first" mode: the relay is opaque, the application sees the very bytes
    and answers itself) and after a valid request on a kept-alive
    connection ("warm" mode: the proxy's parser must answer).

For every case and mode the runner checks: the answer (status, who
answered: the proxy's answers carry l5d-proxy-error, the upstream's
x-upstream), that the connection is closed after a rejection (no byte after
the error response), that a kept-alive connection is still in sync (a
follow-up request gets its own answer), what the upstream received (the
case's request(s) exactly once, never a rejected or smuggled one), and
that the proxies are alive and ready. A final sweep re-reads the whole
upstream log for forbidden markers.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

UP = "up"          # answered by the upstream (x-upstream: h1peer, no proxy error)
OPAQUE = "opaque"  # the connection was relayed opaquely: the upstream answered whatever it answers


def b(s):
    return s.encode("latin-1") if isinstance(s, str) else s


class Case:
    def __init__(self, cid, name, build, expect, rfc, check=None, first=None, body_err=False,
                 smuggle=False, split=None, delay=0.0, close=None, alts=None, up_target=None):
        self.cid = cid
        self.name = name
        self.build = build          # f(M, S, H) -> bytes: M marker path, S smuggle path, H host
        self.expect = expect        # list of UP / status ints, one per response
        self.rfc = rfc
        self.check = check          # f(records) -> error string or None (upstream records of M)
        self.first = first          # expectation list in "first" mode, if it differs (OPAQUE)
        self.body_err = body_err    # rejected while streaming the body: the head may have gone up
        self.smuggle = smuggle      # the payload carries a request to S that must never arrive
        self.split = split          # write size for split sends
        self.delay = delay
        self.close = close          # connection must close after the last answer (default: after a rejection)
        self.alts = alts or []      # alternative acceptable expectation lists
        self.up_target = up_target  # the target the upstream sees, if not M

    def payload(self, M, S, H):
        if callable(self.build):
            return self.build(M, S, H)
        return self.build.replace("{M}", M).replace("{S}", S).replace("{H}", H)


CASES = []


def case(*a, **k):
    c = Case("c%02d" % (len(CASES) + 1), *a, **k)
    CASES.append(c)
    return c


def hdr_names(rec):
    return [n.lower() for n, _ in rec["headers"]]


def hval(rec, name):
    return [v for n, v in rec["headers"] if n.lower() == name]


def body_is(want, framing=None):
    def check(recs):
        r = recs[0]
        if r["body"] != want:
            return "upstream body %r, want %r" % (r["body"][:80], want[:80])
        if framing and r["framing"] != framing:
            return "upstream framing %s, want %s" % (r["framing"], framing)
        return None
    return check


GET = "GET {M} HTTP/1.1\r\nHost: {H}\r\n"
POST = "POST {M} HTTP/1.1\r\nHost: {H}\r\n"
CHUNK5 = "5\r\nhello\r\n0\r\n\r\n"

# --- Transfer-Encoding with Content-Length, TE variants (RFC 9112 §6.1, §6.3) ----
case("CL then TE", POST + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", [400],
     "9112 §6.1/§6.3.3: CL+TE rejected")
case("TE then CL", POST + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
     [400], "9112 §6.3.3")
case("CL.TE classic with smuggled GET",
     POST + "Content-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET {S} HTTP/1.1\r\nHost: {H}\r\n\r\n",
     [400], "9112 §6.3.3", smuggle=True)
case("TE.CL classic with smuggled GET",
     POST + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2c\r\nGET {S} HTTP/1.1\r\nHost: {H}\r\nX: y\r\n\r\n\r\n0\r\n\r\n",
     [400], "9112 §6.3.3", smuggle=True)
case("TE: chunked, identity", POST + "Transfer-Encoding: chunked, identity\r\n\r\n" + CHUNK5, [400],
     "9112 §6.3.4: chunked must be final")
case("TE: identity, chunked", POST + "Transfer-Encoding: identity, chunked\r\n\r\n" + CHUNK5, [501],
     "9112 §6.1: unknown coding → 501 (identity is not registered)")
case("TE:  chunked (leading OWS)", POST + "Transfer-Encoding:   chunked\r\n\r\n" + CHUNK5, [UP],
     "9110 §5.5: OWS is not part of the value", check=body_is("hello", "chunked"))
case("TE:<TAB>chunked<TAB>", POST + "Transfer-Encoding:\tchunked\t\r\n\r\n" + CHUNK5, [UP],
     "9110 §5.5 OWS includes HTAB", check=body_is("hello", "chunked"))
case("TE: xchunked", POST + "Transfer-Encoding: xchunked\r\n\r\n" + CHUNK5, [501], "9112 §6.1: unknown coding")
case("Transfer-Encoding : chunked (space before colon)",
     POST + "Transfer-Encoding : chunked\r\n\r\n" + CHUNK5, [400], "9112 §5.1: MUST reject")
case("TE: CHUNKED (case-insensitive)", POST + "Transfer-Encoding: CHUNKED\r\n\r\n" + CHUNK5, [UP],
     "9112 §7: coding names are case-insensitive", check=body_is("hello", "chunked"))
case("TE chunked in two field lines", POST + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNK5,
     [400], "9112 §6.1: chunked at most once")
case("TE: empty value", POST + "Transfer-Encoding: \r\n\r\n" + CHUNK5, [400], "h1_head.c: no empty element")
case("TE: ,chunked (empty element)", POST + "Transfer-Encoding: ,chunked\r\n\r\n" + CHUNK5, [400],
     "h1_head.c: no empty element")
case("TE: \"chunked\" (quoted)", POST + "Transfer-Encoding: \"chunked\"\r\n\r\n" + CHUNK5, [400],
     "h1_head.c: bare coding tokens only")
case("TE: chunked;x=1 (parameter)", POST + "Transfer-Encoding: chunked;x=1\r\n\r\n" + CHUNK5, [400],
     "h1_head.c: no transfer-coding parameters")
case("TE with vertical tab", POST + "Transfer-Encoding: \x0bchunked\r\n\r\n" + CHUNK5, [400],
     "9110 §5.5: CTL in value")
case("TE obs-folded onto next line", POST + "Transfer-Encoding: gzip\r\n chunked\r\n\r\n" + CHUNK5, [400],
     "9112 §5.2: obs-fold rejected")
case("TE: gzip (chunked not final)", POST + "Transfer-Encoding: gzip\r\n\r\n" + CHUNK5, [400],
     "9112 §6.3.4: request body length cannot be determined")
case("TE in an HTTP/1.0 request", "POST {M} HTTP/1.0\r\nHost: {H}\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNK5,
     [400], "9112 §6.1: faulty framing in 1.0")
case("TE: gzip, chunked (coding kept or refused)", POST + "Transfer-Encoding: gzip, chunked\r\n\r\n" + CHUNK5,
     [UP], "9112 §6.1: a coding not decoded must stay declared",
     check=lambda recs: None if any("gzip" in v.lower() for v in hval(recs[0], "transfer-encoding"))
     else "upstream got Transfer-Encoding %r: the gzip coding was dropped but the body was not decoded"
     % hval(recs[0], "transfer-encoding"),
     alts=[[501]])

# --- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3.5) -------------------------------
case("CL twice, identical", POST + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", [UP],
     "9110 §8.6: identical repeats may be collapsed",
     check=lambda recs: body_is("hello", "length")(recs) or (
         None if hval(recs[0], "content-length") == ["5"] else "upstream CL %r" % hval(recs[0], "content-length")))
case("CL twice, conflicting", POST + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", [400],
     "9112 §6.3.5: MUST reject")
case("CL: 5, 5 (list)", POST + "Content-Length: 5, 5\r\n\r\nhello", [400], "h1_head.c: lists rejected")
case("CL: 5 and 05", POST + "Content-Length: 5\r\nContent-Length: 05\r\n\r\nhello", [400],
     "h1_head.c: only byte-identical repeats")
case("CL: +5", POST + "Content-Length: +5\r\n\r\nhello", [400], "9110 §8.6: 1*DIGIT")
case("CL: 5 5", POST + "Content-Length: 5 5\r\n\r\nhello", [400], "9110 §8.6: 1*DIGIT")
case("CL: 0x5", POST + "Content-Length: 0x5\r\n\r\nhello", [400], "9110 §8.6: 1*DIGIT")
case("CL: -1", POST + "Content-Length: -1\r\n\r\nhello", [400], "9110 §8.6: 1*DIGIT")
case("CL: huge (2^70)", POST + "Content-Length: 1180591620717411303424\r\n\r\nhello", [400],
     "h1_head.c: at most INT64_MAX")
case("CL: empty", POST + "Content-Length: \r\n\r\nhello", [400], "9110 §8.6: 1*DIGIT")
case("CL: 005 (leading zeros)", POST + "Content-Length: 005\r\n\r\nhello", [UP], "9110 §8.6: 1*DIGIT",
     check=body_is("hello", "length"))
case("CL : 5 (space before colon)", POST + "Content-Length : 5\r\n\r\nhello", [400], "9112 §5.1: MUST reject")
case("CL obs-folded", POST + "Content-Length: 5\r\n 6\r\n\r\nhello", [400], "9112 §5.2")
def inner_get(S, H):
    return "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (S, H)


def body_smuggle_check(recs):
    r = recs[0]
    if r["body"].startswith("GET /smug-") and r["body"].endswith("\r\n\r\n"):
        return None
    return "upstream body %r (%s)" % (r["body"][:80], r["framing"])


case("CL body hides a smuggled GET",
     lambda M, S, H: "GET %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s"
     % (M, H, len(inner_get(S, H)), inner_get(S, H)),
     [UP], "9112 §6.3.5: the body is the next N bytes, not a request", smuggle=True,
     check=body_smuggle_check)
case("CL: 0 then a pipelined GET", POST + "Content-Length: 0\r\n\r\nGET {M}-2 HTTP/1.1\r\nHost: {H}\r\n\r\n",
     [UP, UP], "9112 §9.3.2 pipelining: two requests, two answers in order",
     check=lambda recs: None if len(recs) == 2 and recs[0]["framing"] == "length"
     and hval(recs[0], "content-length") == ["0"] else "records %r" % [r["target"] for r in recs])

# --- obs-fold and whitespace (RFC 9112 §5.1, §5.2, §2.2) ------------------------------
case("obs-fold (SP)", GET + "X-A: a\r\n b\r\n\r\n", [400], "9112 §5.2: reject")
case("obs-fold (HTAB)", GET + "X-A: a\r\n\tb\r\n\r\n", [400], "9112 §5.2: reject")
case("whitespace before first field", "GET {M} HTTP/1.1\r\n Host: {H}\r\n\r\n", [400], "9112 §2.2")
case("field name with space", GET + "X A: b\r\n\r\n", [400], "9112 §5.1")
case("empty field name", GET + ": v\r\n\r\n", [400], "9110 §5.1: token")
case("field line without colon", GET + "Xfoo\r\n\r\n", [400], "9112 §5")

# --- bare CR / bare LF / NUL / CTL -----------------------------------------------------
case("bare LF ending a field line", "GET {M} HTTP/1.1\r\nHost: {H}\nX: y\r\n\r\n", [400], "h1_field.c: CRLF only")
case("bare LF ending the head", "GET {M} HTTP/1.1\r\nHost: {H}\n\n", [400], "h1_field.c: CRLF only")
case("bare CR in a value", GET + "X-A: a\rb\r\n\r\n", [400], "9112 §2.2: bare CR")
case("CR CR LF", GET + "X-A: a\r\r\n\r\n", [400], "9112 §2.2: bare CR")
case("NUL in a value", GET + "X-A: a\x00b\r\n\r\n", [400], "9110 §5.5")
case("NUL in a name", GET + "X\x00A: b\r\n\r\n", [400], "9110 §5.1")
case("CTL (0x01) in a name", GET + "X\x01A: b\r\n\r\n", [400], "9110 §5.1")
case("bare CR in a name", GET + "X\rA: b\r\n\r\n", [400], "9112 §2.2")
case("NUL in the method", "G\x00ET {M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9110 §9: token", first=[OPAQUE])
case("DEL in a value", GET + "X-A: a\x7fb\r\n\r\n", [400], "9110 §5.5")
case("obs-text in a value (valid)", GET + "X-A: caf\xe9\r\n\r\n", [UP], "9110 §5.5: obs-text allowed",
     check=lambda recs: None if hval(recs[0], "x-a") == ["caf\xe9"] else "x-a %r" % hval(recs[0], "x-a"))
case("bare LF ending the request-line", "GET {M} HTTP/1.1\nHost: {H}\r\n\r\n", [400], "h1_head.c: CRLF only",
     first=[OPAQUE])
case("bare CR in the request-line", "GET {M} HTTP/1.1\rHost: {H}\r\n\r\n", [400], "9112 §2.2", first=[OPAQUE])
case("NUL in the request-target", "GET {M}\x00x HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §3.2",
     first=[OPAQUE])
case("HTAB in the request-target", "GET {M}\tx HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §3", first=[OPAQUE])

# --- chunked coding (RFC 9112 §7.1) -----------------------------------------------------
TE = POST + "Transfer-Encoding: chunked\r\n\r\n"
case("chunk size 0x1", TE + "0x1\r\nA\r\n0\r\n\r\n", [400], "9112 §7.1: chunk-size = 1*HEXDIG", body_err=True)
case("chunk size -1", TE + "-1\r\nA\r\n0\r\n\r\n", [400], "9112 §7.1", body_err=True)
case("chunk size '1 ;' (BWS, no ext-name)", TE + "1 ;\r\nA\r\n0\r\n\r\n", [400], "9112 §7.1.1", body_err=True)
case("chunk size '1 ;a=b' (BWS is allowed)", TE + "1 ;a=b\r\nA\r\n0\r\n\r\n", [UP], "9112 §7.1.1 BWS",
     check=body_is("A", "chunked"))
case("chunk size '1 ' (trailing space)", TE + "1 \r\nA\r\n0\r\n\r\n", [400], "h1_chunked.c", body_err=True)
case("chunk size ' 1' (leading space)", TE + " 1\r\nA\r\n0\r\n\r\n", [400], "9112 §7.1", body_err=True)
case("chunk size overflow (16 F)", TE + "FFFFFFFFFFFFFFFF\r\nA\r\n0\r\n\r\n", [400], "h1_chunked.c: ≤ INT64_MAX",
     body_err=True)
case("chunk size 17 digits", TE + "00000000000000001\r\nA\r\n0\r\n\r\n", [400], "h1_chunked.c: ≤ 16 digits",
     body_err=True)
case("chunk size 16 digits (valid)", TE + "0000000000000001\r\nA\r\n0\r\n\r\n", [UP], "h1_chunked.c",
     check=body_is("A", "chunked"))
case("chunk size upper-case hex", TE + "A\r\n0123456789\r\n0\r\n\r\n", [UP], "9112 §7.1 HEXDIG",
     check=body_is("0123456789", "chunked"))
case("missing chunk size", TE + "\r\nA\r\n0\r\n\r\n", [400], "9112 §7.1", body_err=True)
case("chunk extensions (token and quoted)", TE + "5;a=b;c=\"x y\";d\r\nhello\r\n0;e\r\n\r\n", [UP],
     "9112 §7.1.1", check=body_is("hello", "chunked"))
case("chunk ext ';=x'", TE + "5;=x\r\nhello\r\n0\r\n\r\n", [400], "9112 §7.1.1", body_err=True)
case("chunk ext unterminated quote", TE + "5;a=\"x\r\nhello\r\n0\r\n\r\n", [400], "9112 §7.1.1", body_err=True)
case("chunk ext > 1 KiB", TE + "5;a=" + "x" * 1200 + "\r\nhello\r\n0\r\n\r\n", [400],
     "h1_chunked.c: ≤ 1 KiB", body_err=True)
case("chunk data not followed by CRLF", TE + "5\r\nhelloX\r\n0\r\n\r\n", [400], "9112 §7.1", body_err=True)
case("bare LF after chunk size", TE + "5\nhello\r\n0\r\n\r\n", [400], "h1_chunked.c", body_err=True)
case("bare LF after chunk data", TE + "5\r\nhello\n0\r\n\r\n", [400], "h1_chunked.c", body_err=True)
case("Content-Length in trailers", TE + "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n", [400],
     "9110 §6.5.1", body_err=True)
case("Transfer-Encoding in trailers", TE + "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", [400],
     "9110 §6.5.1", body_err=True)
case("valid trailer", TE + "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", [UP], "9112 §7.1.2",
     check=body_is("hello", "chunked"))
case("chunk data hides a smuggled GET",
     lambda M, S, H: "POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
     % (M, H, len(inner_get(S, H)), inner_get(S, H)),
     [UP], "9112 §7.1: chunk data is data", smuggle=True, check=body_smuggle_check)

# --- limits, also split across many writes (431, 414) -------------------------------------
case("head > 60 KiB", GET + "X-Big: " + "a" * (62 * 1024) + "\r\n\r\n", [431], "RFC 6585 §5; h1.h 60 KiB")
case("head > 60 KiB in 1 KiB writes", GET + "X-Big: " + "a" * (62 * 1024) + "\r\n\r\n", [431],
     "h1_head.c: however the bytes arrive", split=1024, delay=0.001)
case("head > 60 KiB of many fields in 700 B writes",
     GET + "".join("X-F%02d: %s\r\n" % (i, "b" * 680) for i in range(95)) + "\r\n", [431],
     "h1_head.c", split=700, delay=0.001)
case("head just under 60 KiB (valid)", GET + "X-Big: " + "a" * (60 * 1024 - 200) + "\r\n\r\n", [UP],
     "h1.h: ≤ 60 KiB is served",
     check=lambda recs: None if len(hval(recs[0], "x-big")[0]) == 60 * 1024 - 200 else "x-big cut")
case("101 header fields", GET + "".join("X-F%03d: v\r\n" % i for i in range(100)) + "\r\n", [431],
     "h1.h: ≤ 100 fields")
case("101 header fields, one field per write", GET + "".join("X-F%03d: v\r\n" % i for i in range(100)) + "\r\n",
     [431], "h1_head.c", split=12, delay=0.0005)
case("100 header fields (valid)", GET + "".join("X-F%03d: v\r\n" % i for i in range(99)) + "\r\n", [UP],
     "h1.h: ≤ 100 fields", check=lambda recs: None if len(recs[0]["headers"]) == 100 else
     "upstream got %d fields" % len(recs[0]["headers"]))
case("request-target > 8 KiB", "GET {M}?" + "q" * 9000 + " HTTP/1.1\r\nHost: {H}\r\n\r\n", [414],
     "9110 §15.5.15; h1.h 8 KiB", first=[OPAQUE])
case("request-target of 8000 bytes (valid)", "GET {M}?" + "q" * 7900 + " HTTP/1.1\r\nHost: {H}\r\n\r\n", [UP],
     "h1.h", first=[OPAQUE], up_target="prefix")
case("valid chunked request, one byte per write", TE + CHUNK5, [UP], "h1.h: resumable parsing",
     split=1, delay=0.0005, check=body_is("hello", "chunked"))

# --- request-target forms and versions (RFC 9112 §2.3, §3) -----------------------------------
case("absolute-form, Host agrees", "GET http://{H}{M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [UP],
     "9112 §3.2.2: servers MUST accept absolute-form", up_target="suffix")
case("absolute-form, Host differs (Host must follow the target)",
     "GET http://other.test{M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [UP],
     "9112 §3.2.2: a proxy MUST replace Host from the target; h1.h says it does", up_target="suffix",
     check=lambda recs: None if hval(recs[0], "host") == ["other.test"]
     else "upstream Host %r for target %r" % (hval(recs[0], "host"), recs[0]["target"]))
case("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: {H}\r\nX-Case: {M}\r\n\r\n", [UP], "9112 §3.2.4",
     up_target="*")
case("GET * (asterisk outside OPTIONS)", "GET * HTTP/1.1\r\nHost: {H}\r\nX-Case: {M}\r\n\r\n", [400], "9112 §3.2.4")
case("CONNECT with origin-form", "CONNECT {M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §3.2.3")
case("GET with an IP:port target", "GET 127.0.0.1:80 HTTP/1.1\r\nHost: {H}\r\nX-Case: {M}\r\n\r\n", [400],
     "9112 §3.2: authority-form only for CONNECT")
case("fragment in the target", "GET {M}#frag HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §3.2 / RFC 3986")
case("space inside the target", "GET {M} x HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §3", first=[OPAQUE])
case("obs-text in the target", "GET {M}\xff HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "RFC 3986 §2.1")
case("two spaces after the method", "GET  {M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §3", first=[OPAQUE])
case("empty lines before the request-line", "\r\n\r\nGET {M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [UP],
     "9112 §2.2 SHOULD ignore", first=[OPAQUE])
case("lower-case method (a distinct token)", "get {M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [UP],
     "9110 §9.1: methods are case-sensitive tokens",
     check=lambda recs: None if recs[0]["method"] == "get" else "method %r" % recs[0]["method"])
case("'(' in the method", "G(T {M} HTTP/1.1\r\nHost: {H}\r\n\r\n", [400], "9110 §9: token", first=[OPAQUE])
case("HTTP/1.2", "GET {M} HTTP/1.2\r\nHost: {H}\r\n\r\n", [505], "9110 §15.6.6", first=[OPAQUE])
case("HTTP/2.0 in an HTTP/1 request-line", "GET {M} HTTP/2.0\r\nHost: {H}\r\n\r\n", [505], "9110 §15.6.6",
     first=[OPAQUE])
case("HTTP/3.0", "GET {M} HTTP/3.0\r\nHost: {H}\r\n\r\n", [505], "9110 §15.6.6", first=[OPAQUE])
case("lower-case http/1.1", "GET {M} http/1.1\r\nHost: {H}\r\n\r\n", [400], "9112 §2.3: case-sensitive",
     first=[OPAQUE])
case("HTTP/1.10", "GET {M} HTTP/1.10\r\nHost: {H}\r\n\r\n", [400], "9112 §2.3: one digit each",
     first=[OPAQUE])
case("HTTP/1.1 with trailing space", "GET {M} HTTP/1.1 \r\nHost: {H}\r\n\r\n", [400], "9112 §3",
     first=[OPAQUE])
case("HTTP/0.9 (no version)", "GET {M}\r\nHost: {H}\r\n\r\n", [400], "9112 §3", first=[OPAQUE])

# --- Host (RFC 9112 §3.2) ----------------------------------------------------------------------
case("HTTP/1.1 without Host", "GET {M} HTTP/1.1\r\nX: y\r\n\r\n", [400], "9112 §3.2: MUST 400")
case("two Host fields (different)", GET + "Host: evil.test\r\n\r\n", [400], "9112 §3.2: MUST 400")
case("two Host fields (identical)", GET + "Host: {H}\r\n\r\n", [400], "9112 §3.2")
case("Host with userinfo", "GET {M} HTTP/1.1\r\nHost: user@{H}\r\n\r\n", [400], "9110 §4.2.4 / h1_head.c")
case("Host with a space", "GET {M} HTTP/1.1\r\nHost: a b\r\n\r\n", [400], "9112 §3.2")
case("empty Host (valid)", "GET {M} HTTP/1.1\r\nHost:\r\n\r\n", [UP], "9112 §3.2: empty Host allowed",
     check=lambda recs: None if hval(recs[0], "host") == [""] else "host %r" % hval(recs[0], "host"))
case("HTTP/1.0 without Host (valid)", "GET {M} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", [UP],
     "9112 §3.2: Host is required only in 1.1; a 1.1 request sent on needs one", close=True,
     check=lambda recs: None if recs[0]["version"] == "1.0" or len(hval(recs[0], "host")) == 1
     else "forwarded as HTTP/%s without Host" % recs[0]["version"])

# --- Connection tricks (RFC 9110 §7.6.1) ----------------------------------------------------------
case("Connection: content-length", POST + "Content-Length: 5\r\nConnection: content-length\r\n\r\nhello", [400],
     "h1_head.c: dropping CL would reframe")
case("Connection: host", GET + "Connection: host\r\n\r\n", [400], "h1_head.c")
case("Connection: close then a pipelined request",
     GET + "Connection: close\r\n\r\nGET {S} HTTP/1.1\r\nHost: {H}\r\n\r\n", [UP],
     "9112 §9.6: nothing is read after close", smuggle=True, close=True)
case("Connection names a custom field", GET + "Connection: x-drop, keep-alive\r\nX-Drop: secret\r\nKeep-Alive: 5\r\n\r\n",
     [UP], "9110 §7.6.1: named fields are hop-by-hop",
     check=lambda recs: None if not {"x-drop", "keep-alive", "connection"} & set(hdr_names(recs[0]))
     else "hop-by-hop fields forwarded: %r" % hdr_names(recs[0]))
case("valid request then garbage", GET + "\r\nNOT A REQUEST\r\n\r\n", [UP, 400],
     "9112 §2.2 / §3: the second message is malformed")
case("three pipelined requests in one write",
     GET + "\r\n" + "GET {M}-2 HTTP/1.1\r\nHost: {H}\r\n\r\n" + "GET {M}-3 HTTP/1.1\r\nHost: {H}\r\n\r\n",
     [UP, UP, UP], "9112 §9.3.2")


# ------------------------------------------------------------------------------------------------

class Result:
    def __init__(self):
        self.errors = []
        self.got = []

    def err(self, msg):
        self.errors.append(msg)


def recv_some(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(65536)
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return b""


class Reader:
    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.eof = False

    def fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timeout")
        d = recv_some(self.s, left)
        if d is None:
            raise TimeoutError("timeout")
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def response(self, timeout=5.0):
        """Returns (status, {field: value}, body) or raises."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n\r\n" not in self.buf:
                if not self.fill(deadline):
                    raise EOFError("closed before a response head (%d bytes)" % len(self.buf))
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
            if not m:
                raise ValueError("bad status line %r" % lines[0][:80])
            status = int(m.group(1))
            fields = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                fields[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
            if 100 <= status < 200:
                continue
            break
        body = b""
        if "content-length" in fields:
            n = int(fields["content-length"])
            while len(self.buf) < n:
                if not self.fill(deadline):
                    raise EOFError("closed inside a response body")
            body, self.buf = self.buf[:n], self.buf[n:]
        elif "chunked" in fields.get("transfer-encoding", ""):
            while True:
                while b"\r\n" not in self.buf:
                    if not self.fill(deadline):
                        raise EOFError("closed inside a chunked body")
                line, rest = self.buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    if not self.fill(deadline):
                        raise EOFError("closed inside a chunk")
                    line, rest = self.buf.split(b"\r\n", 1)
                body += rest[:size]
                self.buf = rest[size + 2:]
                if size == 0:
                    break
        elif status not in (204, 304):
            while self.fill(deadline):
                pass
            body, self.buf = self.buf, b""
        return status, fields, body


class Runner:
    def __init__(self, a):
        self.a = a
        host, port = a.target.rsplit(":", 1)
        self.addr = (host, int(port))
        self.hosthdr = "h1.test"
        self.nonce = "%x" % (int(time.time() * 1000) & 0xffffff)
        self.forbidden = []   # (marker, case label) never to appear at the upstream

    # -- upstream log ------------------------------------------------------------

    def records(self):
        out = []
        with open(self.a.upstream_log, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    @staticmethod
    def mentions(rec, marker):
        text = rec.get("raw_head") or rec.get("raw") or ""
        return marker in text or marker in rec.get("body", "")

    def health(self, res):
        for pid in self.a.pid:
            try:
                os.kill(pid, 0)
            except OSError:
                res.err("proxy pid %d is gone" % pid)
        for spec in self.a.ready:
            ns, addr = spec.split("=", 1)
            rc = subprocess.run(["ip", "netns", "exec", ns, "curl", "-fsS", "--max-time", "3", "-o",
                                 "/dev/null", "http://%s/ready" % addr]).returncode
            if rc != 0:
                res.err("/ready of %s failed (curl rc %d)" % (ns, rc))

    # -- one case ---------------------------------------------------------------

    def run_case(self, c, mode):
        res = Result()
        tag = "%s-%s-%s-%s" % (c.cid, self.a.path, mode, self.nonce)
        M = "/k-" + tag
        S = "/smug-" + tag
        payload = b(c.payload(M, S, self.hosthdr))
        expect_sets = [c.expect] + c.alts
        if mode == "first" and c.first is not None:
            expect_sets = [c.first]
        s = socket.create_connection(self.addr, timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rd = Reader(s)
        try:
            if mode == "warm":
                W = "/w-" + tag
                s.sendall(b("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (W, self.hosthdr)))
                st, f, body = rd.response()
                if st != 200 or f.get("x-upstream") != "h1peer":
                    res.err("warm-up request got %d %r" % (st, f))
                    return res
            try:
                if c.split:
                    for i in range(0, len(payload), c.split):
                        s.sendall(payload[i:i + c.split])
                        if c.delay:
                            time.sleep(c.delay)
                else:
                    s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError) as e:
                # The proxy may close while a big payload is still being sent;
                # what it answered before must still be readable.
                res.got.append("send:%s" % type(e).__name__)
            # Read as many answers as the longest expectation needs.
            answers = []
            need = max(len(e) for e in expect_sets)
            for _ in range(need):
                try:
                    answers.append(rd.response())
                except (EOFError, TimeoutError, ValueError, OSError) as e:
                    answers.append(("none", {}, str(e)))
                    break
            labels = []
            for st, f, body in answers:
                if st == "none":
                    labels.append("none(%s)" % body)
                elif "l5d-proxy-error" in f:
                    labels.append("%d proxy" % st)
                elif f.get("x-upstream") == "h1peer":
                    labels.append("%d up%s" % (st, "-reject" if "x-upstream-reject" in f else ""))
                else:
                    labels.append("%d ?" % st)
            res.got += labels
            matched = None
            for exp in expect_sets:
                if self.match(exp, answers, M, c):
                    matched = exp
                    break
            if matched is None:
                res.err("answers %s, expected %s" % (labels, " or ".join(str(e) for e in expect_sets)))
                matched = expect_sets[0]
            rejected = any(isinstance(e, int) for e in matched)
            if rejected or c.close or mode == "first" and matched == [OPAQUE]:
                # Nothing may follow the last answer: the connection closes.
                if matched != [OPAQUE]:
                    extra = rd.buf
                    try:
                        while rd.fill(time.monotonic() + 3):
                            extra = rd.buf
                    except TimeoutError:
                        res.err("connection still open 3 s after the answer")
                    if extra:
                        res.err("bytes after the final answer: %r" % extra[:60])
                    if rd.eof:
                        res.got.append("closed")
            elif "none" not in str(labels):
                # Still in sync: a follow-up on the same connection gets its own answer.
                F = "/f-" + tag
                s.sendall(b("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (F, self.hosthdr)))
                try:
                    st, f, body = rd.response()
                    ok = st == 200 and f.get("x-upstream") == "h1peer" and json.loads(body)["target"] == F
                except Exception as e:  # noqa: BLE001
                    ok, body = False, str(e)
                if not ok:
                    res.err("follow-up on the kept-alive connection not answered in sync: %r" % body[:100])
                else:
                    res.got.append("in-sync")
        finally:
            s.close()
        self.check_upstream(c, mode, matched, M, S, res)
        self.health(res)
        return res

    def match(self, exp, answers, M, c):
        if len(answers) < len(exp):
            return False
        for i, e in enumerate(exp):
            st, f, body = answers[i]
            if st == "none":
                return False
            if e == UP:
                if st != 200 or f.get("x-upstream") != "h1peer" or "l5d-proxy-error" in f:
                    return False
                try:
                    target = json.loads(body)["target"]
                except ValueError:
                    return False
                want = M if i == 0 else "%s-%d" % (M, i + 1)
                if c.up_target == "*":
                    ok = target == "*"
                elif c.up_target == "suffix":
                    ok = target.endswith(want)
                elif c.up_target == "prefix":
                    ok = target.startswith(want)
                else:
                    ok = target == want
                if not ok:
                    return False
            elif e == OPAQUE:
                if f.get("x-upstream") != "h1peer" or "l5d-proxy-error" in f:
                    return False
            else:
                if st != e or "l5d-proxy-error" not in f:
                    return False
        return True

    def check_upstream(self, c, mode, matched, M, S, res):
        recs = [r for r in self.records() if self.mentions(r, M)]
        reqs = [r for r in recs if r["kind"] == "request"]
        others = [r for r in recs if r["kind"] != "request"]
        n_up = sum(1 for e in matched if e == UP)
        if matched == [OPAQUE]:
            # The bytes reached the application unchanged (opaque relay).
            raw = [r for r in recs if (r.get("raw_head") or r.get("raw") or "").startswith(
                c.payload(M, S, self.hosthdr)[:40])]
            if not raw:
                res.err("opaque relay: the upstream did not receive the exact bytes")
        elif n_up == 0:
            if reqs:
                res.err("upstream received a request the proxy rejected: %r" % reqs[0]["raw_head"][:120])
            if others and not c.body_err:
                res.err("upstream saw bytes of a request rejected at its head: %r" % others[0])
            self.forbidden.append((M, c.cid + "/" + mode))
        else:
            if len(reqs) != n_up:
                res.err("upstream received %d request(s), expected %d: %r"
                        % (len(reqs), n_up, [r["target"][:60] for r in reqs]))
            elif c.check:
                why = c.check(reqs)
                if why:
                    res.err(why)
            for r in reqs:
                hop = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"} & set(hdr_names(r))
                if hop:
                    res.err("hop-by-hop field(s) reached the upstream: %s" % sorted(hop))
            if others:
                res.err("upstream rejected what the proxy sent: %r" % others[0].get("why"))
        if c.smuggle:
            sm = [r for r in self.records() if (r.get("target") or "").startswith(S)
                  or r["kind"] == "request" and r.get("raw_head", "").startswith("GET " + S)]
            if sm:
                res.err("SMUGGLED request reached the upstream: %r" % sm[0].get("raw_head", "")[:100])
            self.forbidden.append((S, c.cid + "/" + mode + "/smuggled"))

    def final_sweep(self):
        errs = []
        recs = self.records()
        for marker, label in self.forbidden:
            for r in recs:
                if r["kind"] == "request" and (r.get("target", "").startswith(marker)
                                               or ("\n" + "X-Case: " + marker) in r.get("raw_head", "")
                                               or r.get("raw_head", "").startswith("GET " + marker + " ")):
                    errs.append("%s: %s reached the upstream late" % (label, marker))
        return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--path", required=True, help="label: out (both sidecars) or in (inbound only)")
    ap.add_argument("--modes", default="warm,first")
    ap.add_argument("--upstream-log", required=True)
    ap.add_argument("--pid", type=int, action="append", default=[])
    ap.add_argument("--ready", action="append", default=[], help="NETNS=ADDR of a proxy admin")
    ap.add_argument("--only", default="")
    ap.add_argument("--results", default="")
    a = ap.parse_args()
    r = Runner(a)
    rows, failed = [], 0
    t0 = time.monotonic()
    for c in CASES:
        if a.only and c.cid not in a.only.split(","):
            continue
        for mode in a.modes.split(","):
            try:
                res = r.run_case(c, mode)
            except Exception as e:  # noqa: BLE001 - a harness error fails the case
                res = Result()
                res.err("harness: %s: %s" % (type(e).__name__, e))
            exp = c.first if mode == "first" and c.first is not None else c.expect
            exp_s = " ".join(str(e) for e in exp) + (" | " + " ".join(" ".join(str(x) for x in al) for al in c.alts)
                                                      if c.alts and exp is c.expect else "")
            ok = not res.errors
            failed += not ok
            rows.append((c.cid, mode, a.path, c.name, exp_s, ", ".join(res.got), "PASS" if ok else "FAIL",
                         res.errors, c.rfc))
    sweep = r.final_sweep()
    w = max(len(x[3]) for x in rows)
    print("%-4s %-5s %-3s %-*s  %-18s %-36s %s" % ("id", "mode", "via", w, "case", "expected", "got", "result"))
    for cid, mode, path, name, exp_s, got, verdict, errs, rfc in rows:
        print("%-4s %-5s %-3s %-*s  %-18s %-36s %s" % (cid, mode, path, w, name, exp_s, got, verdict))
        for e in errs:
            print("      ! %s   [%s]" % (e, rfc))
    for e in sweep:
        print("  ! final sweep: %s" % e)
    n = len(rows)
    print("%s: %d/%d case runs passed (%d cases), %.1fs" % (a.path, n - failed, n, len({x[0] for x in rows}),
                                                           time.monotonic() - t0))
    if a.results:
        with open(a.results, "w") as f:
            json.dump([{"id": x[0], "mode": x[1], "path": x[2], "case": x[3], "result": x[6], "errors": x[7]}
                       for x in rows], f)
    sys.exit(1 if failed or sweep else 0)


if __name__ == "__main__":
    main()

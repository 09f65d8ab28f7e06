#!/usr/bin/python3
"""fake_kube_api.py — a small Kubernetes API server for tests: HTTPS list +
watch of namespaces, pods, services and endpointslices, following the API
conventions the kubernetes source relies on (api-concepts):

  list   ?limit=N[&continue=T]: pages of at most min(N, PAGE) items with
         metadata.continue; an expired continue token → HTTP 410.
  watch  ?watch=1&resourceVersion=RV[&allowWatchBookmarks=true]
         [&timeoutSeconds=S]: newline-delimited JSON events after RV; RV
         older than the compacted history → an ERROR event with code 410.
  auth   every request needs "Authorization: Bearer TOKEN" (else 401).

  fake_kube_api.py CERT KEY TOKEN PAGE READY_FILE

Listens on 127.0.0.1 (ports chosen by the OS) and writes "API <port>" and
"CTL <port>" to READY_FILE. The control port (plain HTTP, 127.0.0.1) drives
it:
  POST /put?res=R            body: an object; stored with a new resourceVersion,
                             an ADDED/MODIFIED event to the watches
  POST /delete?res=R&ns=N&name=X   a DELETED event
  POST /silent-delete?res=R&ns=N&name=X   removed with no event, and the
                             history compacted (only a relist can see it)
  POST /bookmark             a BOOKMARK at the current resourceVersion to every watch
  POST /expire               compacts the history; every watch gets ERROR 410
  POST /expire-continue      continue tokens issued so far become invalid (410)
  POST /drop                 every watch connection is cut (no final chunk)
  POST /garbage              every watch gets a line that is not JSON
  GET  /requests             JSON list of {path, query, auth} received
  GET  /watches              number of watches open
"""
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATHS = {
    "/api/v1/namespaces": "namespaces",
    "/api/v1/pods": "pods",
    "/api/v1/services": "services",
    "/apis/discovery.k8s.io/v1/endpointslices": "endpointslices",
}
LIST_KIND = {"namespaces": "NamespaceList", "pods": "PodList", "services": "ServiceList",
             "endpointslices": "EndpointSliceList"}

lock = threading.Condition()
state = {
    "rv": 100,
    "compacted": 0,        # watches from an RV below this get 410
    "continue_epoch": 0,   # continue tokens from older epochs are expired
    "objects": {r: {} for r in PATHS.values()},
    "history": [],         # (rv, res, type, obj)
    "watchers": [],
    "requests": [],
}


def key(obj):
    md = obj.get("metadata", {})
    return (md.get("namespace", ""), md.get("name", ""))


class Watcher:
    def __init__(self, res):
        self.res = res
        self.queue = []
        self.cut = False
        self.closed = False


def broadcast(res, typ, obj):
    for w in state["watchers"]:
        if res is None or w.res == res:
            w.queue.append((typ, obj))
    lock.notify_all()


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": msg, "reason": reason, "code": code})

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        auth = self.headers.get("Authorization", "")
        with lock:
            state["requests"].append({"path": u.path, "query": q, "auth": auth})
        if auth != "Bearer " + TOKEN:
            return self.status(401, "Unauthorized", "Unauthorized")
        res = PATHS.get(u.path)
        if res is None:
            return self.status(404, "NotFound", "no such resource")
        if q.get("watch") in ("1", "true"):
            return self.watch(res, q)
        return self.list(res, q)

    def list(self, res, q):
        limit = int(q.get("limit", "0") or 0)
        size = min(limit, PAGE) if limit else PAGE
        with lock:
            off = 0
            if q.get("continue"):
                epoch, rv, off = q["continue"].split(":")
                if int(epoch) != state["continue_epoch"]:
                    return self.status(410, "Expired", "The provided continue parameter is too old")
                off = int(off)
            items = sorted(state["objects"][res].values(), key=key)
            page = items[off:off + size]
            cont = ""
            if off + size < len(items):
                cont = "%d:%d:%d" % (state["continue_epoch"], state["rv"], off + size)
            body = {"kind": LIST_KIND[res], "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(state["rv"]), "continue": cont},
                    "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                              for o in page]}
        self.send_json(200, body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, res, q):
        rv = int(q.get("resourceVersion", "0") or 0)
        deadline = time.time() + int(q.get("timeoutSeconds", "1800"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        w = Watcher(res)
        with lock:
            if rv < state["compacted"]:
                w.queue.append(("ERROR", {"kind": "Status", "apiVersion": "v1",
                                          "status": "Failure", "reason": "Expired",
                                          "message": "too old resource version: %d" % rv,
                                          "code": 410}))
                w.closed = True
            else:
                for (erv, eres, typ, obj) in state["history"]:
                    if eres == res and erv > rv:
                        w.queue.append((typ, obj))
            state["watchers"].append(w)
        try:
            while True:
                with lock:
                    while not w.queue and not w.cut and time.time() < deadline:
                        lock.wait(0.2)
                    events, w.queue = w.queue, []
                    cut = w.cut
                for typ, obj in events:
                    if typ == "GARBAGE":
                        self.chunk(b"{this is not json\n")
                        continue
                    self.chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
                    if typ == "ERROR":
                        w.closed = True
                if cut:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if w.closed or time.time() >= deadline:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with lock:
                if w in state["watchers"]:
                    state["watchers"].remove(w)


class Ctl(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            if self.path == "/requests":
                return self.reply(state["requests"])
            if self.path == "/watches":
                return self.reply(len(state["watchers"]))
        self.send_error(404)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
            if u.path == "/put":
                obj = json.loads(body)
                res = q["res"]
                state["rv"] += 1
                obj.setdefault("metadata", {})["resourceVersion"] = str(state["rv"])
                typ = "MODIFIED" if key(obj) in state["objects"][res] else "ADDED"
                state["objects"][res][key(obj)] = obj
                state["history"].append((state["rv"], res, typ, obj))
                broadcast(res, typ, obj)
            elif u.path in ("/delete", "/silent-delete"):
                res = q["res"]
                obj = state["objects"][res].pop((q.get("ns", ""), q["name"]), None)
                state["rv"] += 1
                if obj is not None and u.path == "/delete":
                    obj = dict(obj)
                    obj["metadata"] = dict(obj["metadata"], resourceVersion=str(state["rv"]))
                    state["history"].append((state["rv"], res, "DELETED", obj))
                    broadcast(res, "DELETED", obj)
                if u.path == "/silent-delete":
                    state["compacted"] = state["rv"]
                    state["history"] = []
            elif u.path == "/bookmark":
                state["rv"] += 1
                for w in state["watchers"]:
                    w.queue.append(("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {
                        "resourceVersion": str(state["rv"])}}))
                lock.notify_all()
            elif u.path == "/expire":
                state["compacted"] = state["rv"]
                state["history"] = []
                broadcast(None, "ERROR", {"kind": "Status", "apiVersion": "v1",
                                          "status": "Failure", "reason": "Expired",
                                          "message": "too old resource version", "code": 410})
            elif u.path == "/expire-continue":
                state["continue_epoch"] += 1
            elif u.path == "/drop":
                for w in state["watchers"]:
                    w.cut = True
                lock.notify_all()
            elif u.path == "/garbage":
                broadcast(None, "GARBAGE", None)
            else:
                self.send_error(404)
                return
            rv = state["rv"]
        self.reply({"resourceVersion": rv})


def main():
    global TOKEN, PAGE
    cert, keyf, TOKEN, page, ready = sys.argv[1:6]
    PAGE = int(page)
    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    api.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, keyf)
    api.socket = ctx.wrap_socket(api.socket, server_side=True)
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Ctl)
    ctl.daemon_threads = True
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    with open(ready + ".tmp", "w") as f:
        f.write("API %d\nCTL %d\n" % (api.server_address[1], ctl.server_address[1]))
    import os
    os.rename(ready + ".tmp", ready)
    api.serve_forever()


if __name__ == "__main__":
    main()

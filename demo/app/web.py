"""web — the demo's HTTP/1.1 front end (keep-alive, one thread per connection).

  GET /                      the page (web_page.html)
  GET /api/list              every emoji, from the emoji service (ListAll)
  GET|POST /api/vote?choice=:shortcode:
                             checks the emoji (FindByShortcode), votes
                             (voting Vote), then INCRs the vote counter in
                             Redis; 200, or 400/404 for a bad choice, 500 when
                             the voting service fails (as it does, on purpose,
                             for ":broken_heart:"), 502 when emoji or Redis fail
  GET /api/leaderboard       voting Results joined with the emoji list
  GET /api/counter           the Redis vote counter
  GET /healthz               "ok" (readiness)

Environment: WEB_PORT (8080), BIND_ADDR (0.0.0.0),
EMOJISVC_HOST (emoji-svc:8080), VOTINGSVC_HOST (voting-svc:8080),
REDIS_HOST (redis:6379), REDIS_KEY (weft-demo:votes).
"""
import json
import os
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import demolib
import demo_pb
import resp

grpc = demolib.grpc
PAGE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_page.html"), "rb").read()


class App:
    def __init__(self):
        self.emoji = demolib.Client(demolib.env("EMOJISVC_HOST", "emoji-svc:8080"), "EmojiService")
        self.voting = demolib.Client(demolib.env("VOTINGSVC_HOST", "voting-svc:8080"), "VotingService")
        host, port = demolib.split_hostport(demolib.env("REDIS_HOST", "redis:6379"), "REDIS_HOST")
        self.redis = resp.Redis(host, port)
        self.redis_key = demolib.env("REDIS_KEY", "weft-demo:votes")
        self.inflight = 0
        self.cond = threading.Condition()

    def emoji_list(self):
        return [{"shortcode": e.shortcode, "unicode": e.unicode}
                for e in self.emoji.call("ListAll", demo_pb.ListAllRequest()).emoji]

    # Each handler returns (status, JSON-able body).
    def api_list(self, _args):
        try:
            return 200, self.emoji_list()
        except grpc.RpcError as e:
            return 502, rpc_error("emoji", e)

    def api_vote(self, args):
        choice = args.get("choice", [""])[0]
        if not choice:
            return 400, {"error": "missing ?choice=:shortcode:"}
        try:
            found = self.emoji.call("FindByShortcode", demo_pb.FindByShortcodeRequest(shortcode=choice))
        except grpc.RpcError as e:
            return 502, rpc_error("emoji", e)
        if not found.HasField("emoji"):
            return 404, {"error": "no such emoji: %s" % choice[:80]}
        try:
            voted = self.voting.call("Vote", demo_pb.VoteRequest(shortcode=choice))
        except grpc.RpcError as e:
            return 500, rpc_error("voting", e)
        try:
            counted = self.redis.command("INCR", self.redis_key)
        except (OSError, resp.RedisError) as e:
            return 502, {"error": "redis: %s" % e, "choice": choice}
        return 200, {"choice": choice, "unicode": found.emoji.unicode, "votes": voted.votes,
                     "votes_counted": counted}

    def api_leaderboard(self, _args):
        try:
            results = self.voting.call("Results", demo_pb.ResultsRequest()).results
        except grpc.RpcError as e:
            return 500, rpc_error("voting", e)
        try:
            uni = {e["shortcode"]: e["unicode"] for e in self.emoji_list()}
        except grpc.RpcError as e:
            return 502, rpc_error("emoji", e)
        return 200, [{"shortcode": r.shortcode, "unicode": uni.get(r.shortcode, "?"), "votes": r.votes}
                     for r in results]

    def api_counter(self, _args):
        try:
            v = self.redis.command("GET", self.redis_key)
        except (OSError, resp.RedisError) as e:
            return 502, {"error": "redis: %s" % e}
        return 200, {"votes_counted": int(v or 0)}


def rpc_error(service, e):
    return {"error": "%s: %s" % (service, e.details()), "grpc_status": e.code().name}


ROUTES = {
    "/api/list": ("api_list", ("GET",)),
    "/api/vote": ("api_vote", ("GET", "POST")),
    "/api/leaderboard": ("api_leaderboard", ("GET",)),
    "/api/counter": ("api_counter", ("GET",)),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply has Content-Length
    server_version = "weft-demo-web/0.1"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body are separate writes

    def log_request(self, code="-", size="-"):  # each request is logged once, below
        pass

    def log_message(self, fmt, *args):  # errors from http.server itself
        demolib.log("http", repr(fmt % args))

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def handle_request(self):
        app = self.server.app
        with app.cond:
            app.inflight += 1
        try:
            self._handle(app)
        finally:
            with app.cond:
                app.inflight -= 1
                app.cond.notify_all()

    def _handle(self, app):
        t0 = time.monotonic()
        url = urlsplit(self.path)
        args = parse_qs(url.query)
        if self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if 0 < n <= 65536 else b""
            if n > 65536:
                self.close_connection = True
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/x-www-form-urlencoded"):
                for k, v in parse_qs(body.decode(errors="replace")).items():
                    args.setdefault(k, v)
        if url.path == "/" and self.command == "GET":
            status, ctype, body = 200, "text/html; charset=utf-8", PAGE
        elif url.path == "/healthz" and self.command == "GET":
            status, ctype, body = 200, "text/plain; charset=utf-8", b"ok\n"
        elif url.path in ROUTES:
            name, methods = ROUTES[url.path]
            if self.command in methods:
                try:
                    status, obj = getattr(app, name)(args)
                except Exception as e:  # a bug: answer 500, keep the connection usable
                    status, obj = 500, {"error": "internal error: %s" % type(e).__name__}
                    demolib.log("error", url.path, repr("%s: %s" % (type(e).__name__, e)))
            else:
                status, obj = 405, {"error": "method not allowed"}
            ctype = "application/json; charset=utf-8"
            body = (json.dumps(obj, ensure_ascii=False) + "\n").encode()
        else:
            status, ctype = 404, "application/json; charset=utf-8"
            body = (json.dumps({"error": "not found"}) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == 405:
            self.send_header("Allow", ", ".join(ROUTES[url.path][1]))
        if self.server.stopping:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        extra = {}
        if "choice" in args:
            extra["choice"] = demolib.word(args["choice"][0][:80])
        demolib.log(self.command, demolib.word(url.path[:200]), status=status, ms=demolib.ms_since(t0),
                    peer="%s:%d" % self.client_address[:2], **extra)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    stopping = False

    def server_bind(self):
        # HTTPServer.server_bind would look up getfqdn() of the bind address:
        # pointless here, and slow in a pod without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "web", self.server_address[1]


def main():
    demolib.set_service("web")
    bind = demolib.env("BIND_ADDR", "0.0.0.0")
    port = demolib.env_int("WEB_PORT", 8080)
    stop = demolib.stop_event()
    app = App()
    if ":" in bind:
        Server.address_family = socket.AF_INET6
    try:
        server = Server((bind, port), Handler)
    except OSError as e:
        demolib.die("cannot listen on %s:%d: %s" % (bind, port, e))
    server.app = app
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    demolib.log("listening", addr="%s:%d" % (bind, server.server_address[1]),
                emoji=app.emoji.target, voting=app.voting.target,
                redis="%s:%d" % (app.redis.host, app.redis.port))
    stop.wait()
    # Stop accepting, answer what is in flight (up to 5 s), then exit;
    # idle keep-alive connections are closed with the process.
    server.stopping = True
    server.shutdown()
    server.server_close()
    deadline = time.monotonic() + 5
    with app.cond:
        while app.inflight and time.monotonic() < deadline:
            app.cond.wait(deadline - time.monotonic())
    app.emoji.close()
    app.voting.close()
    app.redis.close()
    demolib.log("stopped")


if __name__ == "__main__":
    main()

"""Shared plumbing for the weft demo services: environment, one-line request
logs, SIGTERM handling, and gRPC servers/clients without generated code."""
import os
import signal
import sys
import threading
import time

# Resolve names with getaddrinfo (/etc/hosts, resolv.conf) like every other
# program in the pod (and never through an http_proxy: see _CHANNEL_OPTIONS).
os.environ.setdefault("GRPC_DNS_RESOLVER", "native")

# grpcio comes from Debian (python3-grpcio). If this interpreter lacks it (a
# pyenv/venv python3 first on PATH), re-run the program under Debian's.
try:
    import grpc
except ImportError:
    _SYSTEM_PY = "/usr/bin/python3"
    if (os.path.exists(_SYSTEM_PY) and os.path.realpath(sys.executable) != os.path.realpath(_SYSTEM_PY)
            and not os.environ.get("WEFT_DEMO_REEXEC")):
        os.environ["WEFT_DEMO_REEXEC"] = "1"
        os.execv(_SYSTEM_PY, [_SYSTEM_PY] + sys.argv)
    sys.stderr.write("weft demo: python3-grpcio is missing (apt-get install python3-grpcio python3-protobuf)\n")
    sys.exit(1)

from concurrent import futures  # noqa: E402

import demo_pb  # noqa: E402

RPC_TIMEOUT = 5.0  # seconds, every client call
_CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


def env(name, default):
    v = os.environ.get(name, "")
    return v if v != "" else default


def env_int(name, default):
    v = env(name, str(default))
    try:
        return int(v)
    except ValueError:
        die("%s=%r is not an integer" % (name, v))


def env_float(name, default):
    v = env(name, str(default))
    try:
        return float(v)
    except ValueError:
        die("%s=%r is not a number" % (name, v))


def split_hostport(value, what):
    """'host:port' or '[v6]:port' -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        die("%s=%r: want host:port" % (what, value))
    return host.strip("[]"), int(port)


_log_lock = threading.RLock()  # reentrant: the SIGTERM handler logs too
_service = os.path.basename(sys.argv[0]).rsplit(".", 1)[0].replace("_", "-")


def set_service(name):
    global _service
    _service = name


def log(*words, **fields):
    """One line on stdout: '<UTC time> <service> word... key=value...'."""
    t = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)
    parts = [stamp, _service] + [str(w) for w in words]
    parts += ["%s=%s" % (k, v) for k, v in fields.items()]
    line = " ".join(parts) + "\n"
    with _log_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def word(s):
    """s as one safe log word (repr() when empty, spaced or unprintable)."""
    return s if s and s.isprintable() and " " not in s and "=" not in s else repr(s)


def die(msg):
    sys.stderr.write("%s: %s\n" % (_service, msg))
    sys.exit(2)


def stop_event():
    """An Event set by SIGTERM or SIGINT."""
    ev = threading.Event()

    def handler(signum, _frame):
        log("signal", signal.Signals(signum).name, "- shutting down")
        ev.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return ev


def ms_since(t0):
    return "%.2f" % ((time.monotonic() - t0) * 1000.0)


# ---- gRPC -------------------------------------------------------------------

class RpcFailure(Exception):
    """Raised by a handler to end the call with a gRPC error status."""

    def __init__(self, code, details):
        super().__init__(details)
        self.code, self.details = code, details


def _logged(service_method, fn):
    def handler(request, context):
        t0 = time.monotonic()
        about = {}
        if "shortcode" in request.DESCRIPTOR.fields_by_name:
            about["shortcode"] = word(request.shortcode[:80])
        try:
            resp = fn(request, context)
        except RpcFailure as e:
            log(service_method, status=e.code.name, ms=ms_since(t0), peer=context.peer(),
                error=repr(e.details), **about)
            context.abort(e.code, e.details)
        except Exception as e:  # a bug: report it as INTERNAL, keep serving
            log(service_method, status="INTERNAL", ms=ms_since(t0), peer=context.peer(),
                error=repr("%s: %s" % (type(e).__name__, e)), **about)
            context.abort(grpc.StatusCode.INTERNAL, "internal error")
        log(service_method, status="OK", ms=ms_since(t0), peer=context.peer(), **about)
        return resp
    return handler


def serve_grpc(service, impls):
    """Serves demo_pb service `service` ('EmojiService') with impls
    {method: fn(request, context)} on $BIND_ADDR:$GRPC_PORT until SIGTERM."""
    bind = env("BIND_ADDR", "0.0.0.0")
    port = env_int("GRPC_PORT", 8080)
    stop = stop_event()
    handlers = {}
    for method, fn in impls.items():
        req_cls, resp_cls = demo_pb.METHODS["%s/%s" % (service, method)]
        handlers[method] = grpc.unary_unary_rpc_method_handler(
            _logged(method, fn), request_deserializer=req_cls.FromString,
            response_serializer=resp_cls.SerializeToString)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("%s.%s" % (demo_pb.PACKAGE, service), handlers),))
    addr = "[%s]:%d" % (bind, port) if ":" in bind else "%s:%d" % (bind, port)
    try:
        bound = server.add_insecure_port(addr)
    except RuntimeError:
        bound = 0
    if not bound:
        die("cannot listen on %s" % addr)
    server.start()
    log("listening", addr=addr.rsplit(":", 1)[0] + ":%d" % bound, service=service)
    stop.wait()
    # Let calls in flight finish (up to 5 s), refuse new ones.
    server.stop(grace=5).wait()
    log("stopped")


class Client:
    """A gRPC client for one demo service at 'host:port'."""

    def __init__(self, target, service):
        self.target = target
        self.channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.stubs = {}
        for name, (req_cls, resp_cls) in demo_pb.METHODS.items():
            svc, method = name.split("/")
            if svc == service:
                self.stubs[method] = self.channel.unary_unary(
                    demo_pb.method_path(name), request_serializer=req_cls.SerializeToString,
                    response_deserializer=resp_cls.FromString)

    def call(self, method, request, timeout=RPC_TIMEOUT):
        """Returns the response; raises grpc.RpcError (.code(), .details())."""
        return self.stubs[method](request, timeout=timeout)

    def close(self):
        self.channel.close()

#!/usr/bin/python3
"""grpc_interop_peer.py — the independent side of weft's gRPC interop test:
python3-grpcio serving, or calling, the test service that
tests/unit/grpc/test_grpc.c describes.

Message classes come from weft's own proto/*.proto at test time: protoc-c
writes a FileDescriptorSet (--descriptor_set_out) and python's
message_factory builds real classes from it, so both sides encode with
their own protobuf runtime (grpc_tools is not installed; none is needed).

  grpc_interop_peer.py DESCRIPTORS serve PORT      # prints "READY PORT"
  grpc_interop_peer.py DESCRIPTORS call HOST:PORT  # exit 0 when all checks pass
"""
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, message_factory

CERTIFY = "/weft.identity.Identity/Certify"
GET = "/weft.destination.Destination/Get"
DENIED_MSG = "denied: \u00f1 100%"


def load(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return message_factory.GetMessages(list(fds.file))


def serve(m, port):
    CertifyRequest = m["weft.identity.CertifyRequest"]
    CertifyResponse = m["weft.identity.CertifyResponse"]
    GetDestination = m["weft.destination.GetDestination"]
    Update = m["weft.destination.Update"]

    def certify(req, ctx):
        ident = req.identity
        if ident == "fail":
            ctx.abort(grpc.StatusCode.PERMISSION_DENIED, DENIED_MSG)
        if ident == "slow":
            done = threading.Event()
            ctx.add_callback(done.set)
            done.wait(30)
            ctx.abort(grpc.StatusCode.CANCELLED, "gave up")
        resp = CertifyResponse()
        if ident.startswith("big:"):
            resp.leaf_certificate = bytes(int(ident[4:]))
        else:
            resp.leaf_certificate = ("leaf:" + ident).encode()
        resp.intermediate_certificates.append(req.token)
        resp.valid_until.seconds = 1234
        resp.valid_until.nanos = 500000000
        return resp

    def update_add(port_):
        up = Update()
        a = up.add.addrs.add()
        a.addr.ip = bytes([10, 42, 0, 7])
        a.addr.port = port_
        a.weight = 10000
        return up

    def get(req, ctx):
        if req.path == "unknown":
            up = Update()
            up.no_endpoints.exists = False
            yield up
            ctx.abort(grpc.StatusCode.NOT_FOUND, "no such service")
        if req.path == "hold":
            yield update_add(1)
            done = threading.Event()
            ctx.add_callback(done.set)
            done.wait(30)
            return
        n = int(req.path[4:]) if req.path.startswith("svc:") else 0
        for i in range(1, n + 1):
            time.sleep(0.005)
            yield update_add(i)

    handlers = {
        "Certify": grpc.unary_unary_rpc_method_handler(
            certify, request_deserializer=CertifyRequest.FromString,
            response_serializer=CertifyResponse.SerializeToString),
    }
    dst = {
        "Get": grpc.unary_stream_rpc_method_handler(
            get, request_deserializer=GetDestination.FromString,
            response_serializer=Update.SerializeToString),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=80),
                         options=[("grpc.max_receive_message_length", 4 << 20)])
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("weft.identity.Identity", handlers),
        grpc.method_handlers_generic_handler("weft.destination.Destination", dst),
    ))
    bound = server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("READY %d" % bound, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass


FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("CHECK failed: " + what, file=sys.stderr)


def call(m, target):
    CertifyRequest = m["weft.identity.CertifyRequest"]
    CertifyResponse = m["weft.identity.CertifyResponse"]
    GetDestination = m["weft.destination.GetDestination"]
    Update = m["weft.destination.Update"]
    ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=10)
    certify = ch.unary_unary(CERTIFY, request_serializer=CertifyRequest.SerializeToString,
                             response_deserializer=CertifyResponse.FromString)
    get = ch.unary_stream(GET, request_serializer=GetDestination.SerializeToString,
                          response_deserializer=Update.FromString)

    # Unary OK.
    ident = "web.default.serviceaccount.identity.weft.cluster.local"
    resp = certify(CertifyRequest(identity=ident, token=b"t" * 17,
                                  certificate_signing_request=b"\x30\x01\x00"), timeout=5)
    check(resp.leaf_certificate == ("leaf:" + ident).encode(), "unary leaf")
    check(list(resp.intermediate_certificates) == [b"t" * 17], "unary intermediates")
    check(resp.valid_until.seconds == 1234 and resp.valid_until.nanos == 500000000,
          "unary valid_until")

    # Error status with a message that needs percent-encoding.
    try:
        certify(CertifyRequest(identity="fail"), timeout=5)
        check(False, "fail should raise")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.PERMISSION_DENIED, "fail code %s" % e.code())
        check(e.details() == DENIED_MSG, "fail details %r" % e.details())

    # Deadline: our server enforces grpc-timeout too.
    t0 = time.monotonic()
    try:
        certify(CertifyRequest(identity="slow"), timeout=0.3)
        check(False, "slow should time out")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, "slow code %s" % e.code())
    check(time.monotonic() - t0 < 3, "deadline took too long")

    # Server-streaming.
    ups = list(get(GetDestination(scheme="k8s", path="svc:5"), timeout=5))
    check(len(ups) == 5, "stream count %d" % len(ups))
    check(all(u.WhichOneof("update") == "add" for u in ups), "stream kinds")
    check([u.add.addrs[0].addr.port for u in ups] == [1, 2, 3, 4, 5], "stream ports")
    check(ups and ups[0].add.addrs[0].addr.ip == bytes([10, 42, 0, 7]), "stream ip")

    # Streaming error after one message.
    got = []
    try:
        for u in get(GetDestination(scheme="k8s", path="unknown"), timeout=5):
            got.append(u)
        check(False, "unknown should raise")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND, "unknown code %s" % e.code())
        check(e.details() == "no such service", "unknown details %r" % e.details())
    check(len(got) == 1 and got[0].WhichOneof("update") == "no_endpoints", "no_endpoints first")

    # Streaming deadline.
    try:
        list(get(GetDestination(scheme="k8s", path="hold"), timeout=0.3))
        check(False, "hold should time out")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, "hold code %s" % e.code())

    # Unknown method.
    nope = ch.unary_unary("/weft.nope.Nope/Nope")
    try:
        nope(b"", timeout=5)
        check(False, "unknown method should raise")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.UNIMPLEMENTED, "nope code %s" % e.code())

    # Over our server's 4 MiB limit.
    try:
        certify(CertifyRequest(identity="x", token=bytes(5 << 20)), timeout=10)
        check(False, "big request should fail")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, "big code %s" % e.code())

    # Cancel a held stream; the connection keeps working.
    it = get(GetDestination(scheme="k8s", path="hold"))
    next(it)
    it.cancel()
    resp = certify(CertifyRequest(identity="after"), timeout=5)
    check(resp.leaf_certificate == b"leaf:after", "after cancel")

    # Concurrency.
    futs = [certify.future(CertifyRequest(identity="c%d" % i), timeout=10) for i in range(50)]
    check(all(f.result().leaf_certificate == b"leaf:c%d" % i for i, f in enumerate(futs)),
          "concurrent unary")
    ch.close()
    if FAILED:
        print("FAILED: %d checks" % len(FAILED), file=sys.stderr)
        sys.exit(1)
    print("grpcio client checks passed")


def main():
    m = load(sys.argv[1])
    if sys.argv[2] == "serve":
        serve(m, int(sys.argv[3]))
    else:
        call(m, sys.argv[3])


if __name__ == "__main__":
    main()

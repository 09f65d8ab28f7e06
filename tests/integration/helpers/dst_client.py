#!/usr/bin/python3
"""dst_client.py — a python3-grpcio client of weft's Destination service, for
tests/integration/test_controller_destination.sh.

Message classes come from proto/destination.proto at test time (protoc-c
--descriptor_set_out + message_factory), as in identity_client.py.

  dst_client.py DESCRIPTORS HOST:PORT get|profile PATH [MAX_MESSAGES]

With DST_CLIENT_CA (trust anchors, PEM file) and DST_CLIENT_NAME (the
service's identity) in the environment it speaks TLS, as to a destination
service serving mTLS (client certificates are optional there).

Prints one line per message received, flushed at once, in a normalized
form that a shell test can grep:
  ADD set=<k=v,...> <ip:port>|id=<identity or ->|hint=<h2|opaque|-><+t4143>|w=<weight>|<k=v,...> ...
  REMOVE <ip:port> ...
  NOEP exists=<true|false>
  PROFILE fqn=<name or -> opaque=<true|false> retry=<ratio>/<min>/<ttl>s endpoint=<addr or ->
and, when the stream ends, "STATUS <CODE_NAME> <details>". Stops after
MAX_MESSAGES messages (default: never; the test kills it by PID).
"""
import ipaddress
import os
import sys

import grpc
from google.protobuf import descriptor_pb2, message_factory


def addr(a):
    ip = ipaddress.ip_address(bytes(a.ip)) if len(a.ip) in (4, 16) else None
    if ip is None:
        return "?:%d" % a.port
    if ip.version == 6:
        return "[%s]:%d" % (ip, a.port)
    return "%s:%d" % (ip, a.port)


def labels(m):
    return ",".join("%s=%s" % (k, m[k]) for k in sorted(m))


def weighted(wa):
    ident = "-"
    if wa.HasField("tls_identity"):
        ident = wa.tls_identity.dns_like_identity.name
    hint = "-"
    if wa.HasField("protocol_hint"):
        h = wa.protocol_hint
        hint = h.WhichOneof("protocol") or "none"
        if h.HasField("opaque_transport"):
            hint += "+t%d" % h.opaque_transport.inbound_port
    return "%s|id=%s|hint=%s|w=%d|%s" % (addr(wa.addr), ident, hint, wa.weight,
                                         labels(wa.metric_labels))


def show_update(u):
    kind = u.WhichOneof("update")
    if kind == "add":
        items = sorted(weighted(a) for a in u.add.addrs)
        return "ADD set=%s %s" % (labels(u.add.metric_labels), " ".join(items))
    if kind == "remove":
        return "REMOVE " + " ".join(sorted(addr(a) for a in u.remove.addrs))
    if kind == "no_endpoints":
        return "NOEP exists=%s" % ("true" if u.no_endpoints.exists else "false")
    return "EMPTY"


def show_profile(p):
    rb = p.retry_budget
    ep = weighted(p.endpoint) if p.HasField("endpoint") else "-"
    return "PROFILE fqn=%s opaque=%s retry=%g/%d/%ds endpoint=%s" % (
        p.fully_qualified_name or "-", "true" if p.opaque_protocol else "false",
        round(rb.retry_ratio, 3), rb.min_retries_per_second, rb.ttl.seconds, ep)


def main():
    desc, target, which, path = sys.argv[1:5]
    limit = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    fds = descriptor_pb2.FileDescriptorSet()
    with open(desc, "rb") as f:
        fds.ParseFromString(f.read())
    m = message_factory.GetMessages(list(fds.file))
    Req = m["weft.destination.GetDestination"]
    if which == "get":
        method, Resp, show = "/weft.destination.Destination/Get", \
            m["weft.destination.Update"], show_update
    else:
        method, Resp, show = "/weft.destination.Destination/GetProfile", \
            m["weft.destination.DestinationProfile"], show_profile
    ca, name = os.environ.get("DST_CLIENT_CA"), os.environ.get("DST_CLIENT_NAME")
    if ca and name:
        with open(ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel(target, creds,
                                 options=[("grpc.ssl_target_name_override", name)])
    else:
        ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=10)
    call = ch.unary_stream(method, request_serializer=Req.SerializeToString,
                           response_deserializer=Resp.FromString)
    stream = call(Req(scheme="k8s", path=path))
    n = 0
    try:
        for msg in stream:
            print(show(msg), flush=True)
            n += 1
            if limit and n >= limit:
                stream.cancel()
                return 0
        print("STATUS OK", flush=True)
    except grpc.RpcError as e:
        print("STATUS %s %s" % (e.code().name, e.details() or ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""bench/identity/load.py — closed-loop load for the identity figures of
issue #4 (the servers' CPU per operation is what is reported; the client
only has to keep them busy).

  load.py certify DESCRIPTORS HOST:PORT CA NAME IDENTITY TOKEN CSR SECONDS THREADS
      Identity.Certify calls over one TLS channel per thread.
  load.py handshake HOST PORT SNI CA CERT_CHAIN KEY SECONDS THREADS
      Full TLS 1.3 handshakes with a client certificate, one per connection
      (handshake, then close: the proxy's cost of admitting a mesh client).

Prints "OPS <n> ERRORS <n>".
"""
import socket
import ssl
import sys
import threading
import time


def certify(desc, target, ca, name, ident, token, csr_path, seconds, threads):
    import grpc
    from google.protobuf import descriptor_pb2, message_factory
    fds = descriptor_pb2.FileDescriptorSet()
    with open(desc, "rb") as f:
        fds.ParseFromString(f.read())
    m = message_factory.GetMessages(list(fds.file))
    Req, Resp = m["weft.identity.CertifyRequest"], m["weft.identity.CertifyResponse"]
    csr = open(csr_path, "rb").read()
    creds = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
    req = Req(identity=ident, token=token.encode(), certificate_signing_request=csr)
    counts = [0, 0]
    deadline = time.time() + seconds

    def worker():
        ch = grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", name)])
        call = ch.unary_unary("/weft.identity.Identity/Certify",
                              request_serializer=Req.SerializeToString,
                              response_deserializer=Resp.FromString)
        while time.time() < deadline:
            try:
                call(req, timeout=10)
                counts[0] += 1
            except grpc.RpcError:
                counts[1] += 1
        ch.close()
    run(worker, threads)
    print("OPS %d ERRORS %d" % tuple(counts))


def handshake(host, port, sni, ca, chain, key, seconds, threads):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(chain, key)
    counts = [0, 0]
    deadline = time.time() + seconds

    def worker():
        while time.time() < deadline:
            try:
                with socket.create_connection((host, int(port)), timeout=5) as s:
                    with ctx.wrap_socket(s, server_hostname=sni) as t:
                        t.do_handshake()
                        # The client's Finished is in the server's socket
                        # buffer before our close: the server completes
                        # the handshake, then sees the end.
                counts[0] += 1
            except (OSError, ssl.SSLError):
                counts[1] += 1
    run(worker, threads)
    print("OPS %d ERRORS %d" % tuple(counts))


def run(fn, n):
    ts = [threading.Thread(target=fn) for _ in range(int(n))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "certify":
        certify(*args[:7], float(args[7]), args[8])
    else:
        handshake(*args[:6], float(args[6]), args[7])

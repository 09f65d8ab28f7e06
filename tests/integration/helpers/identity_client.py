#!/usr/bin/python3
"""identity_client.py — a python3-grpcio client of weft's Identity.Certify,
for tests/integration/test_controller_identity.sh.

Message classes come from proto/identity.proto at test time (protoc-c
--descriptor_set_out + message_factory), as in grpc_interop_peer.py.

  identity_client.py DESCRIPTORS HOST:PORT IDENTITY TOKEN CSR.der OUTDIR [CA.pem NAME]

With CA.pem and NAME the channel is TLS, verifying the server against CA.pem
as NAME (the identity service's own mesh identity); without, plaintext.

Prints "STATUS <CODE_NAME>" and, on failure, "MESSAGE <grpc-message>".
On OK writes OUTDIR/leaf.der, OUTDIR/intermediate<i>.der and prints
"VALID_UNTIL <seconds>". Exit 0 whenever the call completed (any status).
"""
import os
import sys

import grpc
from google.protobuf import descriptor_pb2, message_factory

CERTIFY = "/weft.identity.Identity/Certify"


def main():
    desc, target, ident, token, csr_path, outdir = sys.argv[1:7]
    tls = sys.argv[7:9]
    fds = descriptor_pb2.FileDescriptorSet()
    with open(desc, "rb") as f:
        fds.ParseFromString(f.read())
    m = message_factory.GetMessages(list(fds.file))
    Req = m["weft.identity.CertifyRequest"]
    Resp = m["weft.identity.CertifyResponse"]
    with open(csr_path, "rb") as f:
        csr = f.read()
    if tls:
        with open(tls[0], "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel(target, creds,
                                 options=[("grpc.ssl_target_name_override", tls[1])])
    else:
        ch = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(ch).result(timeout=5)
    except grpc.FutureTimeoutError:
        print("STATUS UNAVAILABLE")
        print("MESSAGE channel not ready")
        return 0
    certify = ch.unary_unary(CERTIFY, request_serializer=Req.SerializeToString,
                             response_deserializer=Resp.FromString)
    try:
        resp = certify(Req(identity=ident, token=token.encode(),
                           certificate_signing_request=csr), timeout=10)
    except grpc.RpcError as e:
        print("STATUS " + e.code().name)
        print("MESSAGE " + (e.details() or ""))
        return 0
    print("STATUS OK")
    with open(os.path.join(outdir, "leaf.der"), "wb") as f:
        f.write(resp.leaf_certificate)
    for i, der in enumerate(resp.intermediate_certificates):
        with open(os.path.join(outdir, "intermediate%d.der" % i), "wb") as f:
            f.write(der)
    print("VALID_UNTIL %d" % resp.valid_until.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

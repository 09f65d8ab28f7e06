"""call — invoke one demo gRPC method and print the reply as JSON.

  /usr/bin/python3 demo/app/call.py HOST:PORT EmojiService/ListAll
  /usr/bin/python3 demo/app/call.py HOST:PORT EmojiService/FindByShortcode :rocket:
  /usr/bin/python3 demo/app/call.py HOST:PORT VotingService/Vote :rocket:
  /usr/bin/python3 demo/app/call.py HOST:PORT VotingService/Results

On an error status prints 'STATUS_NAME: details' on stderr and exits with the
status's number (e.g. 13 for INTERNAL).
"""
import sys

import demolib
import demo_pb
from google.protobuf import json_format


def main(argv):
    if len(argv) not in (3, 4) or argv[2] not in demo_pb.METHODS:
        sys.stderr.write(__doc__)
        return 2
    target, name = argv[1], argv[2]
    req_cls, _ = demo_pb.METHODS[name]
    req = req_cls()
    if len(argv) == 4:
        if "shortcode" not in req_cls.DESCRIPTOR.fields_by_name:
            sys.stderr.write("%s takes no argument\n" % name)
            return 2
        req.shortcode = argv[3]
    client = demolib.Client(target, name.split("/")[0])
    try:
        resp = client.call(name.split("/")[1], req)
    except demolib.grpc.RpcError as e:
        sys.stderr.write("%s: %s\n" % (e.code().name, e.details()))
        return e.code().value[0]
    finally:
        client.close()
    print(json_format.MessageToJson(resp, ensure_ascii=False, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

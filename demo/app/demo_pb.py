"""Message classes for weft_demo.proto, built in code.

Debian ships python3-protobuf and python3-grpcio but not grpc_tools or protoc,
so instead of generated *_pb2.py files this module describes weft_demo.proto
with descriptor_pb2 and asks the protobuf runtime for the classes. Keep it in
step with weft_demo.proto (the demo test compares the two).
"""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "weft.demo"
EMOJI_SERVICE = PACKAGE + ".EmojiService"
VOTING_SERVICE = PACKAGE + ".VotingService"

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _INT64, _MESSAGE = _F.TYPE_STRING, _F.TYPE_INT64, _F.TYPE_MESSAGE
_ONE, _MANY = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# name -> [(field, number, type, label, message type or None)]
_MESSAGES = [
    ("Emoji", [("shortcode", 1, _STRING, _ONE, None), ("unicode", 2, _STRING, _ONE, None)]),
    ("ListAllRequest", []),
    ("ListAllResponse", [("emoji", 1, _MESSAGE, _MANY, "Emoji")]),
    ("FindByShortcodeRequest", [("shortcode", 1, _STRING, _ONE, None)]),
    ("FindByShortcodeResponse", [("emoji", 1, _MESSAGE, _ONE, "Emoji")]),
    ("VoteRequest", [("shortcode", 1, _STRING, _ONE, None)]),
    ("VoteResponse", [("votes", 1, _INT64, _ONE, None)]),
    ("ResultsRequest", []),
    ("VotingResult", [("shortcode", 1, _STRING, _ONE, None), ("votes", 2, _INT64, _ONE, None)]),
    ("ResultsResponse", [("results", 1, _MESSAGE, _MANY, "VotingResult")]),
]

# service -> [(method, request, response)]
_SERVICES = [
    ("EmojiService", [("ListAll", "ListAllRequest", "ListAllResponse"),
                      ("FindByShortcode", "FindByShortcodeRequest", "FindByShortcodeResponse")]),
    ("VotingService", [("Vote", "VoteRequest", "VoteResponse"),
                       ("Results", "ResultsRequest", "ResultsResponse")]),
]


def file_descriptor_proto():
    """The FileDescriptorProto of weft_demo.proto."""
    fdp = descriptor_pb2.FileDescriptorProto(name="weft_demo.proto", package=PACKAGE,
                                             syntax="proto3")
    for name, fields in _MESSAGES:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = ".%s.%s" % (PACKAGE, type_name)
    for name, methods in _SERVICES:
        s = fdp.service.add(name=name)
        for mname, req, resp in methods:
            s.method.add(name=mname, input_type=".%s.%s" % (PACKAGE, req),
                         output_type=".%s.%s" % (PACKAGE, resp))
    return fdp


def _build():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file_descriptor_proto().SerializeToString())
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.22
    factory = None if get_class else message_factory.MessageFactory(pool)
    classes = {}
    for name, _ in _MESSAGES:
        desc = pool.FindMessageTypeByName("%s.%s" % (PACKAGE, name))
        classes[name] = get_class(desc) if get_class else factory.GetPrototype(desc)
    return classes


_classes = _build()
Emoji = _classes["Emoji"]
ListAllRequest = _classes["ListAllRequest"]
ListAllResponse = _classes["ListAllResponse"]
FindByShortcodeRequest = _classes["FindByShortcodeRequest"]
FindByShortcodeResponse = _classes["FindByShortcodeResponse"]
VoteRequest = _classes["VoteRequest"]
VoteResponse = _classes["VoteResponse"]
ResultsRequest = _classes["ResultsRequest"]
VotingResult = _classes["VotingResult"]
ResultsResponse = _classes["ResultsResponse"]

# "Service/Method" -> (request class, response class), for servers and clients.
METHODS = {}
for _svc, _methods in _SERVICES:
    for _m, _req, _resp in _methods:
        METHODS["%s/%s" % (_svc, _m)] = (_classes[_req], _classes[_resp])


def method_path(service_method):
    """'EmojiService/ListAll' -> '/weft.demo.EmojiService/ListAll'."""
    return "/%s.%s" % (PACKAGE, service_method)

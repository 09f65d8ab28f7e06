"""emoji — gRPC service weft.demo.EmojiService: the fixed list of emoji that
can be voted for.

  ListAll          -> every emoji, in a fixed order
  FindByShortcode  -> the emoji for ":shortcode:" (unset when unknown)

Environment: GRPC_PORT (8080), BIND_ADDR (0.0.0.0).
"""
import demolib
import demo_pb

# (shortcode, unicode) — our own pick of twenty.
EMOJI = [
    (":rocket:", "\U0001F680"),
    (":tada:", "\U0001F389"),
    (":fire:", "\U0001F525"),
    (":sparkles:", "\u2728"),
    (":rainbow:", "\U0001F308"),
    (":sunglasses:", "\U0001F60E"),
    (":thinking:", "\U0001F914"),
    (":sleeping:", "\U0001F634"),
    (":joy:", "\U0001F602"),
    (":heart_eyes:", "\U0001F60D"),
    (":penguin:", "\U0001F427"),
    (":octopus:", "\U0001F419"),
    (":whale:", "\U0001F433"),
    (":owl:", "\U0001F989"),
    (":cactus:", "\U0001F335"),
    (":mushroom:", "\U0001F344"),
    (":pizza:", "\U0001F355"),
    (":taco:", "\U0001F32E"),
    (":coffee:", "\u2615"),
    (":broken_heart:", "\U0001F494"),
]
_BY_CODE = {code: demo_pb.Emoji(shortcode=code, unicode=uni) for code, uni in EMOJI}
_ALL = demo_pb.ListAllResponse(emoji=[_BY_CODE[code] for code, _ in EMOJI])


def list_all(_request, _context):
    return _ALL


def find_by_shortcode(request, _context):
    found = _BY_CODE.get(request.shortcode)
    return demo_pb.FindByShortcodeResponse(emoji=found) if found else demo_pb.FindByShortcodeResponse()


if __name__ == "__main__":
    demolib.set_service("emoji")
    demolib.serve_grpc("EmojiService", {"ListAll": list_all, "FindByShortcode": find_by_shortcode})

"""voting — gRPC service weft.demo.VotingService: keeps the tally in memory.

  Vote     -> counts one vote for a shortcode; votes for VOTE_FAIL_SHORTCODE
              (default ":broken_heart:") fail with INTERNAL on purpose, so the
              mesh's metrics show a failure rate to track down
  Results  -> every shortcode with votes, most votes first

Environment: GRPC_PORT (8080), BIND_ADDR (0.0.0.0), VOTE_FAIL_SHORTCODE
(":broken_heart:"; set to "none" to make every vote succeed).
"""
import re
import threading

import demolib  # first: it checks for grpcio
import demo_pb

grpc = demolib.grpc

_SHORTCODE = re.compile(r"^:[a-z0-9_+-]{1,64}:$")
_lock = threading.Lock()
_tally = {}
FAIL = demolib.env("VOTE_FAIL_SHORTCODE", ":broken_heart:")


def vote(request, _context):
    code = request.shortcode
    if not _SHORTCODE.match(code):
        raise demolib.RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "not a shortcode: %r" % code[:80])
    if code == FAIL:
        raise demolib.RpcFailure(grpc.StatusCode.INTERNAL,
                                 "the ballot box for %s is broken (a deliberate demo failure)" % code)
    with _lock:
        _tally[code] = _tally.get(code, 0) + 1
        n = _tally[code]
    return demo_pb.VoteResponse(votes=n)


def results(_request, _context):
    with _lock:
        items = sorted(_tally.items(), key=lambda kv: (-kv[1], kv[0]))
    return demo_pb.ResultsResponse(
        results=[demo_pb.VotingResult(shortcode=c, votes=n) for c, n in items])


if __name__ == "__main__":
    demolib.set_service("voting")
    demolib.serve_grpc("VotingService", {"Vote": vote, "Results": results})

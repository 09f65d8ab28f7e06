"""A small Redis client speaking RESP over a plain socket (no python3-redis
needed). One connection, reused, guarded by a lock; reconnects when the
connection has gone away."""
import socket
import threading


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, host, port, timeout=5.0):
        self.host, self.port, self.timeout = host, port, timeout
        self._sock = None
        self._buf = b""
        self._lock = threading.Lock()

    def close(self):
        with self._lock:
            self._drop()

    def _drop(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock, self._buf = None, b""

    def command(self, *args):
        """Sends one command; returns str/int/bytes/None/list; raises
        RedisError for an error reply and OSError when Redis is unreachable."""
        payload = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            payload += b"$%d\r\n%s\r\n" % (len(a), a)
        with self._lock:
            # A reused connection may have been closed by the far side while
            # idle: retry once on a fresh one. A fresh one is not retried.
            for attempt in (0, 1):
                reused = self._sock is not None
                try:
                    if self._sock is None:
                        self._sock = socket.create_connection((self.host, self.port), self.timeout)
                        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._sock.sendall(payload)
                    return self._reply()
                except RedisError:
                    raise
                except (OSError, EOFError, ValueError) as e:
                    self._drop()
                    if not reused or attempt == 1:
                        raise OSError("redis %s:%d: %s" % (self.host, self.port, e or type(e).__name__))

    def _fill(self):
        data = self._sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self._buf += data

    def _line(self):
        while b"\r\n" not in self._buf:
            self._fill()
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self._buf) < n + 2:
                self._fill()
            data, self._buf = self._buf[:n], self._buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        self._drop()
        raise EOFError("not a RESP reply: %r" % line[:40])

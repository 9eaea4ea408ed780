"""A minimal Redis client for bulk writes: raw RESP blocks over one socket.

redis-py packs each command and parses each reply in Python, which for
millions of commands costs seconds of CPU. This client sends blocks
of commands that the caller has already encoded as Redis protocol (RESP)
bytes, from a thread, and reads integer replies by counting lines.
"""

from __future__ import annotations

import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import hiredis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.online_encoding import binary_buffers, concat_binary

# Seconds to wait for Redis to accept a block or to send a reply.
SOCKET_TIMEOUT_SECONDS = 120.0
# Connection-string options this client applies. Any other option (ssl, ...)
# makes RedisAddress.parse raise.
CONNECTION_OPTIONS = frozenset({"db", "username", "password"})


@dataclass(frozen=True)
class RedisAddress:
    """Connection settings of one Redis server, from Feast's connection string."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, connection_string: str) -> RedisAddress:
        """Parse ``host:port,option=value,...`` as Feast's Redis store does.

        Raises:
            ValueError: the string has more than one address, or an option
                other than those of :data:`CONNECTION_OPTIONS`.
        """
        parts = connection_string.split(",")
        nodes = [part for part in parts if "=" not in part]
        options = dict(part.split("=", 1) for part in parts if "=" in part)
        unsupported = sorted(set(options) - CONNECTION_OPTIONS)
        if len(nodes) != 1 or unsupported:
            msg = (
                f"Redis connection string {connection_string!r} has {len(nodes)} "
                f"addresses and the options {unsupported}; the bulk writer takes "
                f"one host:port and only the options {sorted(CONNECTION_OPTIONS)}"
            )
            raise ValueError(msg)
        host, _, port = nodes[0].partition(":")
        return cls(
            host=host,
            port=int(port or 6379),
            db=int(options.get("db", 0)),
            username=options.get("username"),
            password=options.get("password"),
        )


class Sender:
    """A thread that sends blocks of commands, so that encoding goes on while
    Redis reads. An error of the thread is raised by the next ``send`` or on
    exit."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        # Two blocks in flight bound the memory held by queued payloads.
        self.queue: queue.Queue[pa.Array | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sender:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise self.error

    def send(self, commands: pa.Array) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(commands)

    def _run(self) -> None:
        while (commands := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                offsets, _ = binary_buffers(commands)
                data = memoryview(commands.buffers()[2])
                self.connection.sendall(data[offsets[0] : offsets[-1]])
            except OSError as error:
                self.error = error


class RespConnection:
    """A plain TCP connection to Redis that sends blocks of RESP commands."""

    def __init__(self, address: RedisAddress) -> None:
        self.socket = socket.create_connection(
            (address.host, address.port), timeout=SOCKET_TIMEOUT_SECONDS
        )
        self.reader = hiredis.Reader()
        # Bytes received after the integer replies that expect_integers read.
        self.unread = b""
        setup: list[tuple[str, ...]] = []
        if address.password is not None:
            user = (address.username,) if address.username else ()
            setup.append(("AUTH", *user, address.password))
        if address.db:
            setup.append(("SELECT", str(address.db)))
        for command in setup:
            arguments = [bulk_strings(argument.encode()) for argument in command]
            self.socket.sendall(b"*%d\r\n" % len(command) + b"".join(arguments))
        self.replies(len(setup))

    def __enter__(self) -> RespConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.socket.close()

    def expect_integers(self, count: int) -> None:
        """Read ``count`` integer replies (``:<n>\\r\\n``), as HSET and EXPIRE return.

        Raises:
            RuntimeError: Redis returned an error reply.
        """
        received = [self.unread]
        lines = self.unread.count(b"\r\n")
        while lines < count:
            received.append(self._receive())
            lines += received[-1].count(b"\r\n")
        data = b"".join(received)
        rest = data.split(b"\r\n", count)[-1] if count else data
        replies = data[: len(data) - len(rest)]
        self.unread = rest
        if b"-" in replies:
            # An integer reply of HSET or EXPIRE is never negative, so this is
            # an error reply.
            line = next(r for r in replies.split(b"\r\n") if r.startswith(b"-"))
            msg = f"Redis rejected a bulk materialization command: {line.decode()}"
            raise RuntimeError(msg)

    def replies(self, count: int) -> list[Any]:
        """Read and parse the next ``count`` replies.

        Raises:
            RuntimeError: a reply is an error.
        """
        if self.unread:
            self.reader.feed(self.unread)
            self.unread = b""
        replies: list[Any] = []
        while len(replies) < count:
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self._receive())
                continue
            if isinstance(reply, hiredis.ReplyError):
                msg = f"Redis rejected a bulk materialization command: {reply}"
                raise RuntimeError(msg)
            replies.append(reply)
        return replies

    def _receive(self) -> bytes:
        chunk = self.socket.recv(1 << 20)
        if not chunk:
            msg = "Redis closed the connection during bulk materialization"
            raise ConnectionError(msg)
        return chunk


def decimal_strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pc.cast(pa.array(values), pa.large_string()), pa.large_binary())


def bulk_strings(values: Any) -> Any:
    """Return RESP bulk strings, ``$<length>\\r\\n<bytes>\\r\\n``, of bytes or
    of each element of a binary array."""
    if isinstance(values, bytes):
        return b"$%d\r\n%s\r\n" % (len(values), values)
    lengths = decimal_strings(pc.binary_length(values).to_numpy(zero_copy_only=False))
    return concat_binary(b"$", lengths, b"\r\n", values, b"\r\n")

"""Three small debugger clients (stdlib sockets and JSON) for the debug-mode cluster tests.

Why our own: the tests must show that a real debugger attaches through pyodo's forward, with
nothing installed on the developer's side. Each speaks just enough of its protocol:

* :class:`DapClient` — the Debug Adapter Protocol debugpy serves (``Content-Length`` framed
  JSON): initialize, attach, breakpoints, ``stopped``, continue, disconnect.
* :class:`InspectorClient` — the Node inspector: ``/json/list`` over HTTP, then the Chrome
  DevTools Protocol over a websocket (RFC 6455 frames, client-masked).
* :class:`JdwpClient` — JDWP: the ``JDWP-Handshake`` exchange, then binary command packets
  (VirtualMachine.Version, a breakpoint via EventRequest.Set, the composite event).

Every read is bounded by a deadline; a timeout names what was awaited.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import time
import urllib.request
from typing import Any

__all__ = ["DapClient", "DebugClientError", "InspectorClient", "JdwpClient"]


class DebugClientError(AssertionError):
    """The debuggee did not answer as the protocol says (what was awaited, what came)."""


class _Stream:
    """A socket with a read buffer and a deadline per wait."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def _fill(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DebugClientError(f"timed out waiting for {what}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError as exc:
            raise DebugClientError(f"timed out waiting for {what}") from exc
        if not chunk:
            raise DebugClientError(f"connection closed while waiting for {what}")
        self.buffer += chunk

    def read_exactly(self, size: int, deadline: float, what: str) -> bytes:
        while len(self.buffer) < size:
            self._fill(deadline, what)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_until(self, marker: bytes, deadline: float, what: str) -> bytes:
        while marker not in self.buffer:
            self._fill(deadline, what)
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def close(self) -> None:
        self.sock.close()


def _take(
    events: list[dict[str, Any]], key: str, name: str, read: Any, timeout: float
) -> dict[str, Any]:
    """The first queued event whose ``key`` is ``name``, reading messages (``read(deadline,
    what)`` queues them) until one comes or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        for i, message in enumerate(events):
            if message.get(key) == name:
                return events.pop(i)
        read(deadline, f"the {name} event")


# -- DAP (debugpy) -------------------------------------------------------------------------------


class DapClient:
    """A DAP client: requests by ``seq``; events kept in order until someone waits for them."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.stream = _Stream(host, port, timeout)
        self.timeout = timeout
        self.seq = 0
        self.events: list[dict[str, Any]] = []
        self.responses: dict[int, dict[str, Any]] = {}

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps(
            {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self.stream.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _read(self, deadline: float, what: str) -> None:
        head = self.stream.read_until(b"\r\n\r\n", deadline, what).decode()
        length = next(
            int(value)
            for name, _, value in (line.partition(":") for line in head.split("\r\n"))
            if name.strip().lower() == "content-length"
        )
        message = json.loads(self.stream.read_exactly(length, deadline, what))
        if message.get("type") == "response":
            self.responses[message["request_seq"]] = message
        elif message.get("type") == "event":
            self.events.append(message)

    def response(self, seq: int, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        while seq not in self.responses:
            self._read(deadline, f"the response to request {seq}")
        message = self.responses.pop(seq)
        if not message.get("success"):
            raise DebugClientError(f"{message.get('command')} failed: {message.get('message')}")
        return message

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        return self.response(self.send(command, **arguments))

    def event(self, name: str, timeout: float | None = None) -> dict[str, Any]:
        return _take(self.events, "event", name, self._read, timeout or self.timeout)

    def attach(self, breakpoints: dict[str, list[int]]) -> None:
        """initialize, attach, the breakpoints (remote path -> lines), configurationDone: the
        order a DAP client must follow (debugpy answers ``attach`` only after the last)."""
        self.request(
            "initialize",
            clientID="pyodo-test",
            adapterID="debugpy",
            linesStartAt1=True,
            columnsStartAt1=True,
            pathFormat="path",
        )
        attach = self.send("attach", justMyCode=False)
        self.event("initialized")
        for path, lines in breakpoints.items():
            reply = self.request(
                "setBreakpoints",
                source={"path": path},
                breakpoints=[{"line": line} for line in lines],
            )
            if not all(b.get("verified") for b in reply["body"]["breakpoints"]):
                raise DebugClientError(f"breakpoints not verified: {reply['body']}")
        self.request("configurationDone")
        self.response(attach)

    def close(self) -> None:
        try:
            self.request("disconnect", terminateDebuggee=False)
        except (DebugClientError, OSError):
            pass
        finally:
            self.stream.close()


# -- the Node inspector (Chrome DevTools Protocol over a websocket) ------------------------------


def inspector_targets(host: str, port: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """``/json/list``: the inspector's debuggable targets, each with its websocket URL."""
    with urllib.request.urlopen(f"http://{host}:{port}/json/list", timeout=timeout) as reply:
        targets: list[dict[str, Any]] = json.load(reply)
    return targets


class InspectorClient:
    """CDP over a minimal websocket: text frames out (masked), text frames in (unmasked)."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 30.0) -> None:
        self.stream = _Stream(host, port, timeout)
        self.timeout = timeout
        self.id = 0
        self.events: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        key = base64.b64encode(os.urandom(16)).decode()
        self.stream.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        deadline = time.monotonic() + timeout
        head = self.stream.read_until(b"\r\n\r\n", deadline, "the websocket upgrade").decode()
        if " 101 " not in head.split("\r\n", 1)[0]:
            raise DebugClientError(f"websocket upgrade refused: {head!r}")

    def _send_frame(self, payload: bytes, opcode: int = 0x1) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.stream.sock.sendall(header + mask + masked)

    def _read_message(self, deadline: float, what: str) -> None:
        data = b""
        while True:
            first, second = self.stream.read_exactly(2, deadline, what)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self.stream.read_exactly(2, deadline, what))
            elif size == 127:
                (size,) = struct.unpack("!Q", self.stream.read_exactly(8, deadline, what))
            payload = self.stream.read_exactly(size, deadline, what)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise DebugClientError(f"the inspector closed the websocket while awaiting {what}")
            if opcode == 0x9:
                self._send_frame(payload, opcode=0xA)
                continue
            data += payload
            if first & 0x80:
                break
        message = json.loads(data)
        if "id" in message:
            self.replies[message["id"]] = message
        else:
            self.events.append(message)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.id += 1
        self._send_frame(json.dumps({"id": self.id, "method": method, "params": params}).encode())
        deadline = time.monotonic() + self.timeout
        while self.id not in self.replies:
            self._read_message(deadline, f"the reply to {method}")
        reply = self.replies.pop(self.id)
        if "error" in reply:
            raise DebugClientError(f"{method} failed: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def event(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        return _take(self.events, "method", method, self._read_message, timeout or self.timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(b"", opcode=0x8)
        self.stream.close()


# -- JDWP -------------------------------------------------------------------------------------

_REPLY_FLAG = 0x80
_EVENT_COMPOSITE = (64, 100)
BREAKPOINT = 2
SUSPEND_ALL = 2
TYPE_TAG_CLASS = 1


class JdwpClient:
    """JDWP's binary protocol: 11-byte headers, ids sized as the VM says (IDSizes)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.stream = _Stream(host, port, timeout)
        self.timeout = timeout
        self.id = 0
        self.events: list[bytes] = []
        self.stream.sock.sendall(b"JDWP-Handshake")
        deadline = time.monotonic() + timeout
        answer = self.stream.read_exactly(14, deadline, "the JDWP handshake")
        if answer != b"JDWP-Handshake":
            raise DebugClientError(f"not a JDWP handshake: {answer!r}")
        self.sizes: dict[str, int] = {}

    def command(self, command_set: int, command: int, data: bytes = b"") -> bytes:
        self.id += 1
        header = struct.pack("!IIBBB", 11 + len(data), self.id, 0, command_set, command)
        self.stream.sock.sendall(header + data)
        deadline = time.monotonic() + self.timeout
        what = f"the reply to JDWP command {command_set}/{command}"
        while True:
            length, packet_id, flags = struct.unpack(
                "!IIB", self.stream.read_exactly(9, deadline, what)
            )
            rest = self.stream.read_exactly(length - 9, deadline, what)
            if flags & _REPLY_FLAG:
                (error,) = struct.unpack("!H", rest[:2])
                if packet_id != self.id:
                    continue
                if error:
                    raise DebugClientError(f"JDWP {command_set}/{command}: error {error}")
                return rest[2:]
            if (rest[0], rest[1]) == _EVENT_COMPOSITE:
                self.events.append(rest[2:])

    def version(self) -> dict[str, Any]:
        """VirtualMachine.Version."""
        data = self.command(1, 1)
        description, at = _string(data, 0)
        major, minor = struct.unpack_from("!ii", data, at)
        vm_version, at = _string(data, at + 8)
        vm_name, _ = _string(data, at)
        return {
            "description": description,
            "jdwp": (major, minor),
            "vm": vm_version,
            "name": vm_name,
        }

    def id_sizes(self) -> None:
        """VirtualMachine.IDSizes: field, method, object, reference type, frame id sizes."""
        names = ("field", "method", "object", "reference", "frame")
        self.sizes = dict(zip(names, struct.unpack("!5i", self.command(1, 7)), strict=True))

    def _ident(self, kind: str, data: bytes, at: int) -> tuple[int, int]:
        size = self.sizes[kind]
        return int.from_bytes(data[at : at + size], "big"), at + size

    def class_id(self, signature: str) -> int:
        """VirtualMachine.ClassesBySignature: the one loaded class of that JNI signature."""
        raw = signature.encode()
        data = self.command(1, 2, struct.pack("!I", len(raw)) + raw)
        (count,) = struct.unpack_from("!i", data, 0)
        if count < 1:
            raise DebugClientError(f"class {signature} is not loaded")
        ref, _ = self._ident("reference", data, 5)  # after count and the type tag
        return ref

    def method_id(self, class_id: int, name: str) -> int:
        """ReferenceType.Methods: the method of that name."""
        data = self.command(2, 5, class_id.to_bytes(self.sizes["reference"], "big"))
        (count,) = struct.unpack_from("!i", data, 0)
        at = 4
        for _ in range(count):
            method, at = self._ident("method", data, at)
            method_name, at = _string(data, at)
            _, at = _string(data, at)  # signature
            at += 4  # modifier bits
            if method_name == name:
                return method
        raise DebugClientError(f"no method {name} in class {class_id}")

    def set_breakpoint(self, class_id: int, method_id: int) -> int:
        """EventRequest.Set BREAKPOINT at the method's first instruction (LocationOnly)."""
        location = (
            struct.pack("!B", TYPE_TAG_CLASS)
            + class_id.to_bytes(self.sizes["reference"], "big")
            + method_id.to_bytes(self.sizes["method"], "big")
            + struct.pack("!Q", 0)
        )
        data = struct.pack("!BBiB", BREAKPOINT, SUSPEND_ALL, 1, 7) + location
        (request_id,) = struct.unpack("!i", self.command(15, 1, data))
        return request_id

    def wait_event(self, kind: int, request_id: int, timeout: float | None = None) -> None:
        """The composite event holding ``kind`` for ``request_id`` (a breakpoint hit)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        what = f"JDWP event {kind} of request {request_id}"
        while True:
            for i, event in enumerate(self.events):
                if _has_event(event, kind, request_id):
                    del self.events[i]
                    return
            length, _, flags = struct.unpack("!IIB", self.stream.read_exactly(9, deadline, what))
            rest = self.stream.read_exactly(length - 9, deadline, what)
            if not flags & _REPLY_FLAG and (rest[0], rest[1]) == _EVENT_COMPOSITE:
                self.events.append(rest[2:])

    def clear_and_resume(self, request_id: int) -> None:
        self.command(15, 2, struct.pack("!Bi", BREAKPOINT, request_id))  # EventRequest.Clear
        self.command(1, 9)  # VirtualMachine.Resume

    def close(self) -> None:
        try:
            self.command(1, 6)  # VirtualMachine.Dispose: the VM runs on, undebugged
        except (DebugClientError, OSError):
            pass
        finally:
            self.stream.close()


def _string(data: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("!I", data, at)
    return data[at + 4 : at + 4 + size].decode(), at + 4 + size


def _has_event(composite: bytes, kind: int, request_id: int) -> bool:
    """Whether a composite event's first event is ``kind`` for ``request_id`` (each event's
    kind and request id come first; the rest is not needed here)."""
    _policy, count = struct.unpack_from("!Bi", composite, 0)
    if count < 1:
        return False
    event_kind, event_request = struct.unpack_from("!Bi", composite, 5)
    return event_kind == kind and event_request == request_id

"""A slow and lossy link to the API server: a TCP proxy on loopback (asyncio, stdlib only).

Every chunk read from either side is held ``delay`` seconds before it is passed on (in order:
one pump per direction), and every ``cut_every``-th connection is reset once ``cut_after`` bytes
came back from the server: what a lossy link does to a TCP stream that gives up (the client
sees ECONNRESET mid-response). TLS passes through untouched; the kubeconfig only needs its
``server`` pointed at the proxy (the API server's certificate names 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 65536


@dataclass
class SlowLink:
    upstream: tuple[str, int]
    delay: float
    cut_every: int = 0
    cut_after: int = 16384
    port: int = 0
    connections: int = 0
    cuts: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None
    _server: Any = None

    def __enter__(self) -> SlowLink:
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="slow-link", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the slow link did not start listening in 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        cut = bool(self.cut_every) and self.connections % self.cut_every == 0
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        budget = self.cut_after if cut else None
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer, None)),
            asyncio.ensure_future(self._pump(up_reader, writer, budget)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for side in (writer, up_writer):
                side.transport.abort()  # a reset, as the link gives up: no orderly close

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: int | None
    ) -> None:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            await asyncio.sleep(self.delay)
            if budget is not None:
                data = data[:budget]
                budget -= len(data)
            writer.write(data)
            await writer.drain()
            if budget is not None and budget <= 0:
                self.cuts += 1  # cut mid-response (a shorter exchange got through whole)
                return


def kubeconfig_through(link: SlowLink, kubeconfig: Path, dest: Path) -> Path:
    """A copy of ``kubeconfig`` whose ``https://127.0.0.1:<port>`` servers go through ``link``."""
    text = re.sub(
        r"server: https://127\.0\.0\.1:\d+",
        f"server: https://127.0.0.1:{link.port}",
        kubeconfig.read_text(),
    )
    dest.write_text(text)
    return dest

"""Reading a local file a devfile names (the devfile itself, a parent, a manifest) safely.

Every such path comes from user input. ``Path.read_text`` on a named pipe blocks until a
writer appears, on a character device (``/dev/zero``) reads for ever, on a directory fails
with a bare OSError. Here the file is opened non-blocking and checked with ``fstat`` on the
open descriptor (a check before opening can be raced), refused unless it is a regular file,
read up to a bound, and decoded as UTF-8: each failure a :class:`UnreadableFile` whose
``problem``/``fix`` the caller turns into its own one-line error naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["MAX_FILE_BYTES", "UnreadableFile", "read_text", "what_it_is"]

#: Devfiles and manifests are a few KiB; a bigger one is the wrong file, and parsing it could
#: take minutes.
MAX_FILE_BYTES = 1 << 20


class UnreadableFile(Exception):
    """Why a file could not be read; ``where`` is e.g. ``line 3`` for a decoding error."""

    def __init__(self, problem: str, fix: str = "", where: str = "") -> None:
        super().__init__(problem)
        self.problem, self.fix, self.where = problem, fix, where


def what_it_is(path: Path) -> str:
    """What a path that is not a regular file is, for the error naming it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return "a symlink loop" if exc.errno == errno.ELOOP else "a broken symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The text of the regular file ``path``: at most ``limit`` bytes, UTF-8 (BOM allowed)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror}", "fix the path") from exc
    except ValueError as exc:  # a NUL in the path: no file can have that name
        raise UnreadableFile(f"cannot read: {exc}", "fix the path") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses directories
        os.close(fd)
        raise UnreadableFile(f"is {what_it_is(path)}", "make it a regular file")
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:  # e.g. EIO from /proc/self/mem, a regular file in name only
        raise UnreadableFile(f"cannot read: {exc.strerror}", "fix the path") from exc
    if len(data) > limit:
        raise UnreadableFile(f"is larger than {limit >> 20} MiB", "is it the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFile(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
            "save the file as UTF-8",
            f"line {line}",
        ) from exc

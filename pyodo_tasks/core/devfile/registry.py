"""Fetching parent devfiles: from a path, a URL, or a devfile registry (remote or a local copy).

A registry is named by the devfile (``parent.registryUrl``) or by a setting: the
``PYODO_DEVFILE_REGISTRY`` variable, the pytest option ``--pyodo-devfile-registry`` or the doit
variable ``devfile_registry=``. A setting is a comma-separated list of URLs or directories and
is tried before the devfile's own ``registryUrl`` — so a local copy or a loopback mirror stands
in for a registry this machine cannot reach.

- an ``http(s)://`` registry is asked ``GET <url>/devfiles/<id>/<version>`` (the registry
  server's API, as the devfile library asks it); what it returns is cached under
  ``<pyodo cache>/devfile-parents`` and the cache answers when the registry does not;
- a directory is read in the registry's repository layout: ``[stacks/]<id>/<version>/devfile.yaml``
  or ``[stacks/]<id>/devfile.yaml`` (a single-version stack).

Every wait is bounded (``timeout``); a registry that cannot be reached and has nothing cached is
one :class:`~pyodo_tasks.errors.DevfileError` naming it and how to point at a local copy.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pyodo_tasks.core.devfile.files import MAX_FILE_BYTES, UnreadableFile, read_text
from pyodo_tasks.paths import cache_root

__all__ = [
    "REGISTRY_ENV",
    "FetchError",
    "Fetched",
    "fetch_from_registries",
    "fetch_uri",
    "registry_setting",
]

REGISTRY_ENV = "PYODO_DEVFILE_REGISTRY"
TIMEOUT = 10.0
LOCAL_COPY_HINT = (
    f"point {REGISTRY_ENV} (or --pyodo-devfile-registry, or doit devfile_registry=) at a local "
    "copy: a directory laid out as stacks/<id>/<version>/devfile.yaml, or a loopback registry URL"
)
URI_HINT = "download it once and point the uri at the local file"
_VERSION_PART = re.compile(r"\d+|[^\d.]+")
#: Characters no URL holds unencoded (RFC 3986): whitespace, controls, ``{}`` of an unexpanded
#: template (``https://{{ host }}/x``), ``<>"\^`|``; and anything beyond ASCII.
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f-\uffff{}<>\"\\^`|]|[\U00010000-\U0010ffff]")
#: Redirects followed before a fetch gives up (urllib's default is 10).
MAX_REDIRECTS = 5


class FetchError(Exception):
    """A parent could not be had; ``fix`` says what to do (the loader adds file and field)."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Fetched:
    """A parent's text and where it came from (a directory for relative ``uri``s, or a URL)."""

    text: str
    origin: str
    #: A line worth telling the user (served from cache, registry substituted), or "".
    note: str = ""


def registry_setting(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The registries a setting names, in order (comma-separated string or a list)."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip() for item in items if item and item.strip())


def _cache_file(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:32]
    return cache_root() / "devfile-parents" / f"{digest}.yaml"


class _BadAnswer(Exception):
    """The server answered, but not with a devfile pyodo can take (too big, not UTF-8, a
    redirect off http(s))."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, but only to http(s) and never from https down to http."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old = urllib.parse.urlsplit(req.full_url).scheme
        new = urllib.parse.urlsplit(newurl).scheme.lower()
        if new not in ("http", "https") or (old == "https" and new == "http"):
            fp.close()
            raise _BadAnswer(f"redirects to {_shown(newurl)}, which pyodo does not follow")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _shown(text: str, limit: int = 200) -> str:
    """``text`` on one line, at most ``limit`` characters: for messages quoting a server."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _http_get(url: str, timeout: float) -> str:
    """The body of ``url``: at most MAX_FILE_BYTES of UTF-8, all of it within ``timeout``."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_Redirects())
    request = urllib.request.Request(url, headers={"Accept": "application/yaml, */*"})
    body = bytearray()
    with opener.open(request, timeout=timeout) as response:
        while chunk := response.read1(1 << 16):
            body += chunk
            if len(body) > MAX_FILE_BYTES:
                raise _BadAnswer(f"answered more than {MAX_FILE_BYTES >> 20} MiB")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the answer took longer than {timeout:g} s")
        if response.length:  # read1 stops at the end of the stream without saying
            raise http.client.IncompleteRead(bytes(body), response.length)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _BadAnswer(f"answered what is not UTF-8 text (byte 0x{body[exc.start]:02x})") from exc


def _reason(exc: BaseException) -> str:
    """Why a fetch failed, in a few words."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the answer ended early ({len(exc.partial)} bytes read)"
    if isinstance(exc, http.client.InvalidURL):
        return f"not a valid URL: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"the answer is not HTTP ({type(exc).__name__}: {exc})"
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        return _reason(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed: {exc}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def fetch_url(url: str, timeout: float = TIMEOUT, hint: str = LOCAL_COPY_HINT) -> Fetched:
    """GET ``url``, caching the answer; the cache answers (and says so) when the fetch fails.

    ``hint`` is the fix offered when neither the network nor the cache has it. Whatever goes
    wrong (no network, a server that closes early, answers garbage, too much or not UTF-8,
    redirects in a loop or off http(s), TLS) is a :class:`FetchError` in one line.
    """
    bad = _NOT_IN_URL.search(url)
    if bad:
        raise FetchError(
            f"{_shown(url)} is not a valid URL (it contains {bad.group(0)!r})",
            "write the URL out in full (an unexpanded {{template}}?) or percent-encode it",
        )
    cache = _cache_file(url)
    try:
        text = _http_get(url, timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response, and with it the connection
        fix = (
            "point the uri at where it leads, or at a local copy"
            if 300 <= exc.code < 400
            else "check the id and version"
        )
        raise FetchError(f"{_shown(url)} answered {exc.code} {_shown(exc.reason)}", fix) from exc
    except (
        urllib.error.URLError,
        OSError,
        ValueError,
        http.client.HTTPException,
        _BadAnswer,
    ) as exc:
        if cache.is_file():
            return Fetched(
                cache.read_text(encoding="utf-8"), url, f"{url} unreachable; cached copy"
            )
        unreachable = isinstance(exc, urllib.error.URLError | ConnectionRefusedError | TimeoutError)
        verb = "cannot reach" if unreachable else "cannot fetch"
        raise FetchError(
            f"{verb} {_shown(url)} ({_shown(_reason(exc))}) and nothing is cached", hint
        ) from exc
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(cache)
    return Fetched(text, url)


def fetch_uri(uri: str, base: str, timeout: float = TIMEOUT) -> Fetched:
    """A parent named by ``uri``: relative to ``base`` (the child's directory or URL)."""
    try:
        parsed = urllib.parse.urlparse(uri)
    except ValueError as exc:  # e.g. "http://[::1": an unclosed IPv6 address
        raise FetchError(f"{_shown(uri)} is not a valid URL ({exc})", "fix the uri") from exc
    if parsed.scheme in ("http", "https"):
        return fetch_url(uri, timeout, URI_HINT)
    if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:  # "C:" is no scheme
        raise FetchError(
            f"unsupported uri scheme {parsed.scheme!r}", "use a path, file:// or http(s)://"
        )
    if base.startswith(("http://", "https://")) and parsed.scheme == "":
        return fetch_url(urllib.parse.urljoin(base, uri), timeout, URI_HINT)
    path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else uri)
    if not path.is_absolute():
        path = Path(base) / path
    return Fetched(_read_local(path), str(path.parent))


def _read_local(path: Path) -> str:
    """A local file a devfile names: a regular file only, so a named pipe or a device in its
    place is refused at once instead of blocking the load (see :mod:`.files`)."""
    try:
        return read_text(path)
    except UnreadableFile as exc:
        where = f" ({exc.where})" if exc.where else ""
        raise FetchError(f"{path} {exc.problem}{where}", exc.fix) from exc


def _version_key(text: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _VERSION_PART.findall(text))


def _stack_dir(root: Path, stack: str) -> Path | None:
    for candidate in (root / "stacks" / stack, root / stack):
        if candidate.is_dir():
            return candidate
    return None


def _default_version(stack_dir: Path) -> str | None:
    """The ``default: true`` version of the stack's ``stack.yaml``, if it names one."""
    try:
        meta = yaml.safe_load(_read_local(stack_dir / "stack.yaml"))
    except (FetchError, yaml.YAMLError):
        return None
    for item in (meta or {}).get("versions") or [] if isinstance(meta, dict) else []:
        if isinstance(item, dict) and item.get("default"):
            return str(item.get("version"))
    return None


def _declared_version(text: str) -> str:
    """``metadata.version`` of a devfile's text, or "" when it has none or does not parse.

    A file that does not parse is not refused here: the loader parses it next and reports the
    YAML error with the file's name and line.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return ""
    metadata = raw.get("metadata") if isinstance(raw, dict) else None
    return str(metadata.get("version", "")) if isinstance(metadata, dict) else ""


def fetch_local(root: Path, stack: str, version: str | None) -> Fetched | None:
    """A stack from a directory in the registry's layout; None when the stack is not there."""
    stack_dir = _stack_dir(root, stack)
    if stack_dir is None:
        return None
    versions = sorted((p.parent.name for p in stack_dir.glob("*/devfile.yaml")), key=_version_key)
    if not versions:
        single = stack_dir / "devfile.yaml"
        if not single.is_file():
            return None
        if version and version != "latest":
            have = _declared_version(_read_local(single))
            if have and have != version:
                raise FetchError(f"{stack} {version} not in {root} (it has {have})", "")
        return Fetched(_read_local(single), str(stack_dir))
    if not version:
        version = _default_version(stack_dir) or versions[-1]
    elif version == "latest":
        version = versions[-1]
    if version not in versions:
        raise FetchError(
            f"{stack} has no version {version} in {root}", f"use one of: {', '.join(versions)}"
        )
    file = stack_dir / version / "devfile.yaml"
    return Fetched(_read_local(file), str(file.parent))


def fetch_from_registries(
    stack: str, version: str | None, registries: Sequence[str], timeout: float = TIMEOUT
) -> Fetched:
    """The first registry in ``registries`` that has the stack; a one-line error otherwise."""
    if not registries:
        raise FetchError(
            f"parent {stack!r} names no registry", f"add parent.registryUrl, or {LOCAL_COPY_HINT}"
        )
    problems = []
    for registry in registries:
        if registry.startswith(("http://", "https://")):
            url = f"{registry.rstrip('/')}/devfiles/{stack}/{version or ''}".rstrip("/")
            try:
                return fetch_url(url, timeout)
            except FetchError as exc:
                problems.append(exc.problem)
                continue
        root = Path(registry.removeprefix("file://")).expanduser()
        if not root.is_dir():
            problems.append(f"{registry} is neither a directory nor an http(s) URL")
            continue
        found = fetch_local(root, stack, version)
        if found is not None:
            return found
        problems.append(f"{root} has no stack {stack!r}")
    raise FetchError("; ".join(problems), LOCAL_COPY_HINT)

"""Build pyodo's images as docker-archive tarballs, cached by a hash of their recipe.

Why: the test cluster cannot pull anything, so every image it runs (sandbox, init, builders) is
made here from registry packages and imported from a tarball. An archive is named
``<name>-<recipe hash>.tar``; the hash covers the recipe files, the package list and
:data:`RECIPE_VERSION` (bump it when this builder code changes what it writes), so an unchanged
recipe is never rebuilt and a changed one always is.

Images are written by :mod:`pyodo_tasks.testbed.images.archive` without a daemon. Builder root
filesystems come from ``debootstrap --variant=minbase`` against the machine's configured apt
mirror and are cached as layer tars of their own (``rootfs/``), so changing an S2I script only
rewrites the small top layer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.image import INIT_PACKAGES, stage_init_context
from pyodo_tasks.runtime.sources import INIT_SOURCE_DIR, SUPERVISOR_SOURCE_DIR
from pyodo_tasks.testbed.images._system import (
    cache_root,
    debian_mirror,
    ensure_debian_packages,
    find_go,
    remove_tree,
    unmount_under,
)
from pyodo_tasks.testbed.images.archive import (
    FileEntry,
    ImageConfig,
    tar_directory,
    write_docker_archive,
    write_layer,
)
from pyodo_tasks.testbed.progress import Progress, as_progress

#: The test bed's image recipes (pause, S2I builder scripts) live beside this module.
PACKAGE_DIR = Path(__file__).resolve().parent

__all__ = [
    "IMAGE_NAMES",
    "RECIPES",
    "RECIPE_VERSION",
    "ImageArchive",
    "Recipe",
    "archive_path",
    "ensure_images",
    "images_dir",
    "recipe_digest",
]

#: Bump when the builder code changes what an archive contains: every image is rebuilt.
RECIPE_VERSION = 1
#: Debian suite of the builder images.
SUITE = "bookworm"
#: Kubernetes source of the sandbox's pause.c (Go module; compiled with gcc, as upstream does).
KUBERNETES_MODULE = "k8s.io/kubernetes@v1.36.3"
PAUSE_CFLAGS = ("-Os", "-Wall", "-Werror", "-static", "-s", "-DVERSION=v3.10-pyodo")

#: The docs and translations under ``/usr/share`` a builder does without, each with what dpkg
#: still installs of it: the one list both the pruning and dpkg's config read, so that what is
#: pruned once is what later ``apt-get install``s keep out.
DOC_DIRS: dict[str, str | None] = {
    "doc": "*/copyright",
    "man": None,
    "info": None,
    "locale": "locale.alias",
}
#: Removed from builder root filesystems: documentation, locales, apt's caches.
ROOTFS_PRUNE = (
    *(f"usr/share/{name}" for name in DOC_DIRS),
    "usr/share/lintian",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf/templates.dat-old",
    "var/cache/debconf/config.dat-old",
    "etc/resolv.conf",
    "etc/hostname",
)
#: Keeps later ``apt-get install`` in a builder from bringing docs back.
DPKG_SLIM_CFG = (
    "# pyodo builder images are kept small: no docs, man pages or translations.\n"
    + "".join(
        f"path-exclude /usr/share/{name}/*\n"
        + (f"path-include /usr/share/{name}/{kept}\n" if kept else "")
        for name, kept in DOC_DIRS.items()
    )
)

_TIMEOUT_DEBOOTSTRAP = 1800.0
_LOCK_TIMEOUT = 3600.0


@dataclass(frozen=True)
class ImageArchive:
    """A built image: ``ref`` to run it by, ``path`` of its docker-archive tarball."""

    name: str
    ref: str
    path: Path


@dataclass(frozen=True)
class Recipe:
    """What an image is made of; everything here goes into its hash."""

    name: str
    ref: str
    packages: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    extra: tuple[str, ...] = ()
    config: ImageConfig = field(default_factory=ImageConfig)


def _recipe_files(*roots: Path) -> tuple[Path, ...]:
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found.extend(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        else:
            found.append(root)
    return tuple(sorted(found))


def recipe_digest(recipe: Recipe) -> str:
    """Hex sha256 of the recipe: version, name, ref, packages, extra, config, files' bytes+modes."""
    digest = hashlib.sha256()
    header = {
        "version": RECIPE_VERSION,
        "name": recipe.name,
        "ref": recipe.ref,
        "packages": list(recipe.packages),
        "extra": list(recipe.extra),
        "config": recipe.config.to_json(),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for path in recipe.files:
        if path.is_relative_to(PACKAGE_DIR):
            rel = path.relative_to(PACKAGE_DIR).as_posix()
        elif path.is_relative_to(PACKAGE_DIR.parents[1]):  # the runtime's (pyodo_tasks/runtime/)
            rel = path.relative_to(PACKAGE_DIR.parents[1]).as_posix()
        else:
            rel = path.name
        executable = os.access(path, os.X_OK)
        digest.update(f"\0{rel}\0{int(executable)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _builder_recipe(lang: str, packages: tuple[str, ...], extra_path: str) -> Recipe:
    name = f"builder-{lang}"
    scripts = contract.DEFAULT_S2I_SCRIPTS
    system_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    path = f"{extra_path}{contract.APP_ROOT}/bin:{system_path}"
    return Recipe(
        name=name,
        ref=contract.BUILDER_REFS[name],
        packages=packages,
        files=_recipe_files(PACKAGE_DIR / "s2i" / lang),
        extra=(f"debootstrap minbase {SUITE}", *ROOTFS_PRUNE, DPKG_SLIM_CFG),
        config=ImageConfig(
            env=(
                f"PATH={path}",
                f"HOME={contract.APP_ROOT}/src",
                "LANG=C.UTF-8",
                f"{contract.ENV_S2I_SCRIPTS}={scripts}",
            ),
            cmd=(f"{scripts}/run",),
            working_dir=f"{contract.APP_ROOT}/src",
            labels={
                contract.S2I_SCRIPTS_LABEL: f"image://{scripts}",
                "io.pyodo.builder": lang,
            },
        ),
    )


RECIPES: dict[str, Recipe] = {
    "pause": Recipe(
        name="pause",
        ref=contract.PAUSE_REF,
        packages=("gcc", "libc6-dev"),
        files=_recipe_files(PACKAGE_DIR / "pause"),
        extra=(KUBERNETES_MODULE, "build/pause/linux/pause.c", *PAUSE_CFLAGS),
        config=ImageConfig(entrypoint=("/pause",), user="65535:65535"),
    ),
    "init": Recipe(
        name="init",
        ref=contract.INIT_REF,
        packages=INIT_PACKAGES,
        files=_recipe_files(INIT_SOURCE_DIR, SUPERVISOR_SOURCE_DIR),
        extra=("stage_init_context",),
        config=ImageConfig(
            cmd=tuple(contract.COPY_SUPERVISORD_COMMAND),
            labels={"org.opencontainers.image.title": "pyodo init"},
        ),
    ),
    "builder-nodejs": _builder_recipe(
        "nodejs", ("nodejs",), f"{contract.APP_ROOT}/src/node_modules/.bin:"
    ),
    # debugpy for `doit dev --debug` (examples/python). Its python3-pydevd needs gdb, whose
    # libsource-highlight4v5 depends on the virtual libboost-regex1.74.0-icu72: debootstrap
    # resolves no virtual package, so the package providing it is named.
    "builder-python": _builder_recipe(
        "python", ("python3", "python3-debugpy", "libboost-regex1.74.0"), ""
    ),
    "builder-java": _builder_recipe("java", ("openjdk-17-jdk-headless",), ""),
}
#: Every image ensure_images knows, in build order.
IMAGE_NAMES: tuple[str, ...] = tuple(RECIPES)


def images_dir() -> Path:
    """Where archives are cached: ``~/.cache/pyodo/images`` (``$PYODO_CACHE_DIR/images``)."""
    return cache_root() / "images"


def archive_path(recipe: Recipe) -> Path:
    """The cached archive of ``recipe``: ``<images_dir>/<name>-<hash16>.tar``."""
    return images_dir() / f"{recipe.name}-{recipe_digest(recipe)[:16]}.tar"


#: Where builds report: lines (``log(message)``) and long phases (``log.phase(what)``).
Log = Progress


def _work_dir(key: str) -> Path:
    """A scratch dir on the cache's filesystem (rootfs trees are big; /tmp may be tmpfs)."""
    work = images_dir() / "work" / key
    remove_tree(work)  # a killed earlier run's leftovers (we hold this image's lock)
    work.mkdir(parents=True)
    return work


STALE_AFTER_S = 3 * 24 * 3600


def _remove_stale(directory: Path, prefix: str, keep: Path) -> None:
    """Remove other versions of an image not used for :data:`STALE_AFTER_S`.

    Why not every other version at once: two checkouts of pyodo on one machine (a clone in CI, a
    work tree) can need different versions of the same image at the same time; deleting the
    other's archive between its build and its import failed that run ("archive ... does not
    exist"). Archives are touched on every use, so only truly unused ones age out.
    """
    now = time.time()
    for old in directory.glob(f"{prefix}-*.tar"):
        if old == keep or old.name[len(prefix) + 1 :].count("-") != 0:
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - old.stat().st_mtime > STALE_AFTER_S:
                old.unlink(missing_ok=True)


# --- pause -----------------------------------------------------------------------------------


def _pause_source(log: Log) -> tuple[Path, str]:
    """Kubernetes' pause.c from the Go module cache/proxy, else pyodo's equivalent fallback."""
    try:
        out = host.run(
            [find_go(), "mod", "download", "-json", KUBERNETES_MODULE],
            timeout=900,
            what=f"go mod download {KUBERNETES_MODULE}",
            env={"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
        ).stdout
        module_dir = Path(json.loads(out)["Dir"])
        source = module_dir / "build" / "pause" / "linux" / "pause.c"
        if source.is_file():
            return source, f"{KUBERNETES_MODULE}/build/pause/linux/pause.c"
        log(f"{source} missing; using pyodo's pause.c")
    except (ClusterSetupError, ValueError, KeyError) as exc:
        log(f"cannot get Kubernetes' pause.c ({str(exc).splitlines()[0]}); using pyodo's pause.c")
    return PACKAGE_DIR / "pause" / "pause.c", "pyodo_tasks/testbed/images/pause/pause.c"


def _build_pause(recipe: Recipe, work: Path, log: Log) -> list[Path]:
    source, origin = _pause_source(log)
    binary = work / "pause"
    host.run(["gcc", *PAUSE_CFLAGS, "-o", binary, source], timeout=300, what="compiling pause.c")
    layer = work / "layer.tar"
    write_layer(layer, [FileEntry("pause", source=binary, mode=0o755)])
    log(f"pause built from {origin}")
    return [layer]


# --- init ------------------------------------------------------------------------------------


def _build_init(recipe: Recipe, work: Path, log: Log) -> list[Path]:
    context = stage_init_context(work / "context")
    (context / "Containerfile").unlink()  # build-context only, not image content
    layer = work / "layer.tar"
    tar_directory(context, layer, exclude_contents_of=())
    return [layer]


# --- builders --------------------------------------------------------------------------------


def _rootfs_layer(recipe: Recipe, log: Log) -> Path:
    """The debootstrap base layer for ``recipe``'s packages, cached under ``rootfs/``."""
    key_doc = {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "packages": sorted(recipe.packages),
        "prune": ROOTFS_PRUNE,
        "dpkg": DPKG_SLIM_CFG,
    }
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()[:16]
    rootfs_dir = images_dir() / "rootfs"
    rootfs_dir.mkdir(parents=True, exist_ok=True)
    cached = rootfs_dir / f"{recipe.name}-{key}.tar"
    if cached.is_file():
        log(f"{recipe.name}: debootstrap layer cached ({cached.name})")
        return cached
    mirror = debian_mirror(SUITE)
    work = _work_dir(f"rootfs-{recipe.name}")
    target = work / "root"
    tmp = cached.with_suffix(".part")
    with log.phase(f"{recipe.name}: debootstrap {SUITE} +{','.join(recipe.packages)}") as ph:
        try:
            host.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(recipe.packages)}",
                    SUITE,
                    target,
                    mirror,
                ],
                timeout=_TIMEOUT_DEBOOTSTRAP,
                what=f"debootstrap for {recipe.name}",
                on_line=lambda line: ph.update(line.strip()[:100]),  # "I: Retrieving libc6"
            )
            _prune_rootfs(target)
            tar_directory(target, tmp)
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)
            remove_tree(work)
    _remove_stale(rootfs_dir, recipe.name, cached)
    return cached


def _prune_rootfs(target: Path) -> None:
    """Drop docs, locales and apt caches; keep the directories themselves."""
    unmount_under(target)  # debootstrap unmounts /proc itself; a failed run may not
    for rel in ROOTFS_PRUNE:
        path = target / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    remove_tree(child)
                else:
                    child.unlink()
    cfg = target / "etc" / "dpkg" / "dpkg.cfg.d" / "pyodo-slim"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(DPKG_SLIM_CFG)


def _build_builder(recipe: Recipe, work: Path, log: Log) -> list[Path]:
    base = _rootfs_layer(recipe, log)
    lang = recipe.name.removeprefix("builder-")
    scripts = contract.DEFAULT_S2I_SCRIPTS.strip("/")
    entries = [
        FileEntry("opt", is_dir=True, mode=0o755),
        FileEntry(contract.APP_ROOT.strip("/"), is_dir=True, mode=0o775),
        FileEntry(f"{contract.APP_ROOT.strip('/')}/src", is_dir=True, mode=0o775),
        FileEntry(f"{contract.APP_ROOT.strip('/')}/bin", is_dir=True, mode=0o775),
        FileEntry("usr/libexec", is_dir=True, mode=0o755),
        FileEntry(scripts, is_dir=True, mode=0o755),
    ]
    for script in sorted((PACKAGE_DIR / "s2i" / lang).iterdir()):
        entries.append(FileEntry(f"{scripts}/{script.name}", source=script, mode=0o755))
    top = work / "s2i-layer.tar"
    write_layer(top, entries)
    return [base, top]


_BUILDERS: dict[str, Callable[[Recipe, Path, Log], list[Path]]] = {
    "pause": _build_pause,
    "init": _build_init,
}


def _host_packages(names: Sequence[str]) -> list[str]:
    needed: list[str] = []
    for name in names:
        if name == "pause":
            needed += ["gcc", "libc6-dev"]
        elif name.startswith("builder-"):
            needed += ["debootstrap"]
    return sorted(set(needed))


def _ensure_one(recipe: Recipe, log: Log) -> ImageArchive:
    directory = images_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = archive_path(recipe)
    result = ImageArchive(name=recipe.name, ref=recipe.ref, path=path)
    if path.is_file():
        with contextlib.suppress(OSError):
            os.utime(path)  # in use: keeps it from ageing out (_remove_stale)
        return result
    lock = FileLock(os.fspath(directory / f".{recipe.name}.lock"))
    try:
        with lock.acquire(timeout=_LOCK_TIMEOUT):
            if path.is_file():  # another process built it while we waited
                return result
            work = _work_dir(recipe.name)
            with log.phase(f"building image {recipe.name} ({recipe.ref})"):
                try:
                    build = _BUILDERS.get(recipe.name, _build_builder)
                    layers = build(recipe, work, log)
                    write_docker_archive(
                        path,
                        recipe.ref,
                        layers,
                        recipe.config,
                        history=[f"pyodo {recipe.name} layer {i}" for i in range(len(layers))],
                    )
                finally:
                    remove_tree(work)
            _remove_stale(directory, recipe.name, path)
            log(f"image {recipe.name}: {path} ({path.stat().st_size >> 20} MiB)")
    except Timeout as exc:
        raise ClusterSetupError(
            f"waited {_LOCK_TIMEOUT:g}s for another build of {recipe.name}"
        ) from exc
    return result


def ensure_images(
    names: list[str] | None = None,
    *,
    log: Progress | Callable[[str], None] | None = None,
    jobs: int = 3,
) -> dict[str, ImageArchive]:
    """Build the named images (all by default) unless cached; return them by name.

    Builds run in up to ``jobs`` threads: debootstrap is mostly waiting on downloads and dpkg,
    so the three builders overlap well even on 2 cores. Host packages (debootstrap, gcc) are
    installed first, once, because concurrent apt-get installs would fight over dpkg's lock.
    Raises ClusterSetupError naming the image that failed.
    """
    report = as_progress(log)
    wanted = list(IMAGE_NAMES) if names is None else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in RECIPES]
    if unknown:
        raise ClusterSetupError(
            f"unknown image(s) {', '.join(unknown)}; known: {', '.join(IMAGE_NAMES)}"
        )
    recipes = [RECIPES[n] for n in wanted]
    missing = [r.name for r in recipes if not archive_path(r).is_file()]
    if missing:
        ensure_debian_packages(_host_packages(missing), report)
    results: dict[str, ImageArchive] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {r.name: pool.submit(_ensure_one, r, report) for r in recipes}
        errors: list[str] = []
        first_exc: BaseException | None = None
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except ClusterSetupError as exc:
                errors.append(f"{name}: {exc}")
                first_exc = first_exc or exc
    if errors:
        raise ClusterSetupError("image build failed: " + "\n".join(errors)) from first_exc
    return results

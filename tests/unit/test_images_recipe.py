"""Recipe hashing, archive naming, the CLI's no-build path and the init_image task dict."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pyodo_tasks.errors import ClusterSetupError, ConfigError
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime import image as image_module
from pyodo_tasks.runtime.image import CONTAINERFILE, InitImage
from pyodo_tasks.runtime.sources import RUNTIME_DIR
from pyodo_tasks.tasks.init_image import init_image_task
from pyodo_tasks.testbed.images import build
from pyodo_tasks.testbed.images.__main__ import main
from pyodo_tasks.testbed.images._system import debian_mirror
from pyodo_tasks.testbed.images.build import (
    IMAGE_NAMES,
    RECIPES,
    ImageArchive,
    Recipe,
    archive_path,
    ensure_images,
    recipe_digest,
)

REPO_CONTAINERFILE = Path(__file__).parents[2] / "Containerfile"


def _recipe(tmp_path: Path, **changes: object) -> Recipe:
    script = tmp_path / "s2i" / "run"
    if not script.exists():
        script.parent.mkdir(parents=True)
        script.write_text("#!/bin/sh\nexec app\n")
    base = Recipe(name="builder-x", ref="localhost/pyodo/x:1", packages=("a",), files=(script,))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_digest_is_stable(tmp_path: Path) -> None:
    assert recipe_digest(_recipe(tmp_path)) == recipe_digest(_recipe(tmp_path))
    for name in IMAGE_NAMES:
        assert recipe_digest(RECIPES[name]) == recipe_digest(RECIPES[name])


def test_digest_follows_every_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = recipe_digest(_recipe(tmp_path))
    assert recipe_digest(_recipe(tmp_path, packages=("a", "b"))) != base
    assert recipe_digest(_recipe(tmp_path, ref="localhost/pyodo/x:2")) != base
    assert recipe_digest(_recipe(tmp_path, extra=("flag",))) != base
    script = tmp_path / "s2i" / "run"
    script.chmod(0o755)
    after_mode = recipe_digest(_recipe(tmp_path))
    assert after_mode != base
    script.write_text("#!/bin/sh\nexec other\n")
    assert recipe_digest(_recipe(tmp_path)) != after_mode
    current = recipe_digest(_recipe(tmp_path))
    monkeypatch.setattr(build, "RECIPE_VERSION", build.RECIPE_VERSION + 1)
    assert recipe_digest(_recipe(tmp_path)) != current


def test_recipes_cover_their_files() -> None:
    init_files = {p.relative_to(RUNTIME_DIR).as_posix() for p in RECIPES["init"].files}
    assert "init/bin/assemble-and-restart" in init_files
    assert "init/conf/supervisor.conf" in init_files
    assert "supervisor/main.go" in init_files
    node_files = {p.name for p in RECIPES["builder-nodejs"].files}
    assert node_files == {"assemble", "run"}
    assert RECIPES["builder-java"].packages == ("openjdk-17-jdk-headless",)
    assert {RECIPES[n].ref for n in IMAGE_NAMES} == {
        contract.PAUSE_REF,
        contract.INIT_REF,
        *contract.BUILDER_REFS.values(),
    }
    for name in IMAGE_NAMES:
        assert RECIPES[name].ref.startswith("localhost/pyodo/")


def test_archive_path_is_named_by_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    recipe = RECIPES["init"]
    path = archive_path(recipe)
    assert path.parent == tmp_path / "images"
    assert path.name == f"init-{recipe_digest(recipe)[:16]}.tar"


def test_ensure_images_uses_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    path = archive_path(RECIPES["pause"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cached")

    def no_build(*args: object) -> None:
        raise AssertionError("cached image was rebuilt")

    monkeypatch.setattr(build, "ensure_debian_packages", no_build)
    monkeypatch.setattr(build, "_build_pause", no_build)
    result = ensure_images(["pause"], log=lambda _m: None)
    assert result == {"pause": ImageArchive("pause", contract.PAUSE_REF, path)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result["pause"].ref = "x"  # type: ignore[misc]


def test_ensure_images_rejects_unknown_names() -> None:
    with pytest.raises(ClusterSetupError, match="unknown image"):
        ensure_images(["nope"])


def test_cli_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    assert main(["paths", "pause", "init"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["pause", contract.PAUSE_REF, str(archive_path(RECIPES["pause"]))]
    assert lines[1].split()[:2] == ["init", contract.INIT_REF]
    assert main(["paths", "bogus"]) == 1


def test_debian_mirror_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYODO_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert debian_mirror("bookworm") == "http://mirror.invalid/debian"


def test_repo_containerfile_matches_the_packaged_one() -> None:
    assert REPO_CONTAINERFILE.read_text() == CONTAINERFILE
    assert "FROM scratch" in CONTAINERFILE


def test_init_image_task_dict_names_its_tag_and_reruns_on_runtime_changes() -> None:
    task = init_image_task("registry.example/pyodo-init:1", push=True, engine="docker")
    assert "registry.example/pyodo-init:1" in task["doc"]
    assert callable(task["actions"][0])
    assert all(Path(p).is_file() for p in task["file_dep"])
    assert any(p.endswith("supervisor/inject.go") for p in task["file_dep"])
    assert len(task["uptodate"]) == 2


def _fake_engine(tmp_path: Path, push_exit: int) -> str:
    engine = tmp_path / "docker"
    engine.write_text(
        "#!/bin/sh\n"
        'echo "$@" >> "$(dirname "$0")/calls"\n'
        f'if [ "$1" = push ]; then echo "denied: requested access to the resource is denied" >&2;'
        f" exit {push_exit}; fi\n"
        "exit 0\n"
    )
    engine.chmod(0o755)
    return str(engine)


def _staged(dest: Path, arch: str | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "Containerfile").write_text(CONTAINERFILE)
    return dest


def test_init_image_builds_tags_and_pushes_to_the_named_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(image_module, "stage_init_context", _staged)
    engine = _fake_engine(tmp_path, push_exit=0)
    InitImage(
        "reg.local:5000/pyodo-init:1", push=True, engine=engine, context=tmp_path / "c"
    ).build()
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("build -f ") and "-t reg.local:5000/pyodo-init:1" in calls[0]
    assert calls[1] == "push reg.local:5000/pyodo-init:1"
    assert "PYODO_INIT_IMAGE=reg.local:5000/pyodo-init:1" in capsys.readouterr().out


def test_a_refused_registry_push_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_module, "stage_init_context", _staged)
    engine = _fake_engine(tmp_path, push_exit=1)
    with pytest.raises(ConfigError) as caught:
        InitImage("reg.local/x:1", push=True, engine=engine, context=tmp_path / "c").build()
    message = str(caught.value)
    assert "\n" not in message
    assert "pushing reg.local/x:1 failed (exit 1)" in message
    assert "denied" in message and "login" in message and "tag=REGISTRY/" in message

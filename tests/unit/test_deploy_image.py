"""The Dockerfiles: a pinned base, the application image built in stages and run as a numeric
non-root user without pip or a compiler, health-checked, with every package pyproject.toml ships."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy import ROOT

DOCKERFILES = [ROOT / "Dockerfile", ROOT / "deploy" / "compose" / "kannel" / "Dockerfile"]
PINNED = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?[\w.-]*$")  # a version, never latest or a bare major


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def stages(path) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(path):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def base_images(path) -> list[str]:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", path.read_text(encoding="utf-8"), re.MULTILINE))
    images = []
    for name, argument in instructions(path):
        if name == "FROM":
            image = argument.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_base_image_is_pinned_to_a_version(path):
    images = base_images(path)
    assert images and all(PINNED.match(image) for image in images), images


def test_the_image_is_built_in_stages_and_runs_as_a_numeric_non_root_user():
    build, runtime = stages(ROOT / "Dockerfile")
    assert build[0][1].endswith(" AS build")
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime
    (user,) = [argument for name, argument in runtime if name == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    runs = " ".join(argument for name, argument in runtime if name == "RUN")
    assert not re.search(r"apt-get|gcc|build-essential", runs), "no build tools in the runtime stage"
    assert "pip uninstall -y pip" in runs
    assert any(name == "HEALTHCHECK" and "/healthz" in argument for name, argument in runtime)
    assert ("ENTRYPOINT", '["xieshang"]') in runtime


def test_the_image_holds_every_package_pyproject_ships():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {argument.split()[0] for name, argument in instructions(ROOT / "Dockerfile") if name == "COPY"}
    assert packages <= copied
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert not packages & ignored

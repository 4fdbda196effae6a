"""deploy/docker: the image's Dockerfile and the compose file, checked without a container engine.

No container engine runs on these machines, so the image is never built here (docs/production.md);
these checks hold the files to what the image and the CLI really offer.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from fusebox.cli import COMMANDS
from tests.deploy.test_k8s_manifests import documented_variables
from tests.deploy.tools import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "docker" / "compose.yaml"
K8S_USER = 10001


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def exec_form(arguments: str) -> list[str]:
    value = yaml.safe_load(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {arguments}"
    return value


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def fusebox_services(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def test_the_base_image_is_pinned_to_a_patch_release():
    froms = [args for word, args in instructions() if word == "FROM"]
    assert len(froms) == 1, froms
    image = froms[0].split()[0]
    name, _, tag = image.partition(":")
    assert tag and tag != "latest", image
    assert re.match(r"\d+\.\d+\.\d+-", tag), f"{image}: a moving tag; pin the patch release"


def test_the_image_runs_as_the_numeric_non_root_user_of_the_manifests():
    users = [args for word, args in instructions() if word == "USER"]
    assert users, "no USER: the image runs as root"
    user, _, group = users[-1].partition(":")
    assert int(user) == K8S_USER and int(group or user) == K8S_USER, users[-1]
    last_user = max(i for i, (word, _) in enumerate(instructions()) if word == "USER")
    assert all(word != "RUN" for word, _ in instructions()[last_user:]), "RUN after USER"


def test_the_entry_point_is_fusebox_and_the_default_command_is_one_of_its_commands():
    rows = dict(instructions())
    assert exec_form(rows["ENTRYPOINT"]) == ["fusebox"]
    command = exec_form(rows["CMD"])
    assert command[0] in COMMANDS


def test_the_image_writes_no_bytecode_and_keeps_aggregator_data_under_var_lib():
    env = " ".join(args for word, args in instructions() if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "FUSEBOX_AGGREGATOR_DATA_DIR=/var/lib/fusebox/" in env
    for name in re.findall(r"\b(FUSEBOX_[A-Z0-9_]+)=", env):
        assert name in documented_variables(), f"the image sets undocumented {name}"


def test_the_image_copies_everything_the_package_installs_from():
    copied = {args.split()[0] for word, args in instructions() if word == "COPY"}
    assert {"pyproject.toml", "fusebox", "services", "schemas"} <= copied
    for path in copied:
        assert (ROOT / path).exists(), path


def test_the_compose_file_parses_and_pins_every_image(compose):
    assert compose["services"], "no services"
    for name, svc in compose["services"].items():
        if "build" in svc:
            build = svc["build"]
            assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        else:
            image = svc["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name} runs {image}"


def test_every_fusebox_service_runs_a_real_fusebox_command(compose):
    services = fusebox_services(compose)
    assert set(services) == {"migrate", "aggregator", "api"}
    for name, svc in services.items():
        command = svc["command"]
        assert command[0] in COMMANDS, f"{name}: {command[0]!r} is not a fusebox command"
        done = subprocess.run([sys.executable, "-c", PARSE_ONLY, *command], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"{name}: fusebox {' '.join(command)} is refused:\n{done.stderr}"
        assert done.stdout.strip() == f"parsed fusebox {command[0]}", done.stdout


# Runs `fusebox ARGS` up to the sub-command's own argument parser and stops there: the arguments
# are checked by the parser the image's entry point uses, and nothing else runs.
PARSE_ONLY = """
import argparse, sys
from fusebox.cli import main
parse = argparse.ArgumentParser.parse_args
def parse_and_stop(self, args=None, namespace=None):
    parse(self, args, namespace)
    print("parsed", self.prog)
    sys.exit(0)
argparse.ArgumentParser.parse_args = parse_and_stop
sys.exit(main(sys.argv[1:]))
"""


def test_the_compose_environment_uses_documented_settings_and_requires_the_jwt_secret(compose):
    known = documented_variables()
    for name, svc in fusebox_services(compose).items():
        env = svc["environment"]
        assert set(env) <= known, f"{name}: undocumented {sorted(set(env) - known)}"
        assert env["FUSEBOX_JWT_SECRET"].startswith("${FUSEBOX_JWT_SECRET:?"), "the secret has a default"

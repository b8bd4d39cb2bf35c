"""The deployable template, packaged once per session, and helpers to read CloudFormation JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (make venv)"
    return found


def package(stage: str, workdir: Path) -> Path:
    """`chalice package --stage <stage> --merge-template infra/template.json`, as `make package` runs it.

    Built from a copy of the project with an empty requirements.txt, so Chalice does not download
    Lambda wheels: the template does not depend on them, and tests stay offline.
    """
    project = workdir / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments")
    project.mkdir()
    shutil.copy(ROOT / "app.py", project / "app.py")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=ignore)
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=ignore)
    shutil.copytree(ROOT / "infra", project / "infra")
    (project / "requirements.txt").write_text("")
    out = project / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", HERALD_AUTH_MODE="cognito")  # as `make package` does
    result = subprocess.run(
        [tool("chalice"), "package", "--stage", stage, "--merge-template", "infra/template.json", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"chalice package failed:\n{result.stdout}\n{result.stderr}"
    return out / "sam.json"


@pytest.fixture(scope="session")
def sam_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package("dev", tmp_path_factory.mktemp("dev"))


@pytest.fixture(scope="session")
def prod_sam_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package("prod", tmp_path_factory.mktemp("prod"))


@pytest.fixture(scope="session")
def template(sam_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sam_path.read_text())
    return loaded


def of_type(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r.get("Type") in types}


def references(value: Any) -> set[str]:
    """Logical ids (and parameters) a CloudFormation value refers to: Ref, Fn::GetAtt, Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(part.split("}")[0].split(".")[0] for part in str(text).split("${")[1:])
                if isinstance(inner, list):
                    found.update(references(inner[1]))
            else:
                found.update(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(references(inner))
    return found


def queue_ids(template: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(work queues, dead-letter queues): a DLQ is any queue another queue redrives to."""
    queues = of_type(template, "AWS::SQS::Queue")
    dlqs = {
        next(iter(references(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])))
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    return set(queues) - dlqs, dlqs


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(template, "AWS::Serverless::Function")


def sqs_sources(function: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, source in function["Properties"].get("Events", {}).items():
        if source.get("Type") == "SQS":
            yield name, source["Properties"]

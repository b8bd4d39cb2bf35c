"""`make deploy`: the commands it runs, and its `aws cloudformation package` step run for real
against a moto server on 127.0.0.1 (the `deploy` step itself needs a real account)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib.local.resources import DUMMY_CREDENTIALS
from chalicelib.local.stack import free_port
from tests.infra.conftest import ROOT, functions, tool

pytestmark = pytest.mark.infra


def _dry_run(*args: str) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ").splitlines()


def test_deploy_packages_the_stage_then_uploads_and_deploys_it() -> None:
    lines = _dry_run("deploy", "STAGE=prod", "DEPLOY_BUCKET=artifacts", "PARAMS=AlarmEmail=ops@example.com")
    commands = [" ".join(line.split()) for line in lines]

    def index(fragment: str) -> int:
        return next(i for i, c in enumerate(commands) if fragment in c)

    package = commands[index("chalice package")]
    assert "HERALD_AUTH_MODE=cognito" in package and "--stage prod" in package
    assert "--merge-template infra/template.json build/prod" in package
    assert index("cfn-lint build/prod/sam.json") > index("chalice package")
    assert "--skip-download" in commands[index("checkov")]
    upload = commands[index("cloudformation package")]
    assert "--template-file build/prod/sam.json --s3-bucket artifacts" in upload
    deploy = commands[index("cloudformation deploy")]
    assert "--stack-name herald-prod" in deploy
    assert "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND" in deploy
    assert "--parameter-overrides Stage=prod AlarmEmail=ops@example.com" in deploy
    assert index("chalice package") < index("cloudformation package") < index("cloudformation deploy")


def test_deploy_without_a_bucket_stops_before_touching_aws() -> None:
    result = subprocess.run(
        ["bash", "-c", next(line for line in _dry_run("deploy", "STAGE=dev") if "DEPLOY_BUCKET" in line)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "set DEPLOY_BUCKET" in result.stderr


@pytest.fixture
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_cloudformation_package_uploads_the_bundle_and_rewrites_the_template(
    sam_path: Path, moto_server: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1", **DUMMY_CREDENTIALS)
    s3.create_bucket(Bucket="artifacts")
    build = tmp_path / "build"
    shutil.copytree(sam_path.parent, build)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    upload = ["--s3-bucket", "artifacts", "--s3-prefix", "herald-dev", "--use-json"]
    output = ["--output-template-file", str(build / "packaged.json")]
    result = subprocess.run(
        [
            tool("aws"),
            "cloudformation",
            "package",
            "--template-file",
            str(build / "sam.json"),
            *upload,
            *output,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    packaged = json.loads((build / "packaged.json").read_text())
    uris = {f["Properties"]["CodeUri"] for f in functions(packaged).values()}
    (uri,) = uris  # one bundle for every function
    assert uri.startswith("s3://artifacts/herald-dev/")
    key = uri.removeprefix("s3://artifacts/")
    uploaded = s3.get_object(Bucket="artifacts", Key=key)["Body"].read()
    assert uploaded == (sam_path.parent / "deployment.zip").read_bytes()
    assert packaged["Resources"].keys() == json.loads(sam_path.read_text())["Resources"].keys()

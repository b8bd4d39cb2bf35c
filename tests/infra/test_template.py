"""The deployable template: `chalice package --merge-template infra/template.json`, linted and checked.

The package is built from a copy of the project with an empty requirements.txt, so Chalice
does not download Lambda wheels: the template does not depend on them, and tests stay offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SQS_MAX_VISIBILITY_S = 43200

TABLE_KEYS = {
    "herald-${Stage}-accounts": [("account_id", "HASH")],
    "herald-${Stage}-communications": [("comm_id", "HASH")],
    "herald-${Stage}-messages": [("comm_id", "HASH"), ("message_id", "RANGE")],
    "herald-${Stage}-audiences": [("comm_id", "HASH"), ("sk", "RANGE")],
}
TABLE_INDEXES = {
    "herald-${Stage}-accounts": {
        "by_service_area": ([("service_area", "HASH"), ("account_id", "RANGE")], "KEYS_ONLY"),
        "by_network_provider": ([("network_provider", "HASH"), ("account_id", "RANGE")], "KEYS_ONLY"),
        "by_segment": ([("segment", "HASH"), ("account_id", "RANGE")], "KEYS_ONLY"),
    },
    "herald-${Stage}-communications": {
        "by_created": ([("list_pk", "HASH"), ("created_key", "RANGE")], "ALL"),
    },
    "herald-${Stage}-messages": {},
    # Sparse: only leases, UNKNOWN windows and watched communications carry its keys.
    "herald-${Stage}-audiences": {"due": ([("due_pk", "HASH"), ("due_at", "RANGE")], "KEYS_ONLY")},
}
KEY_TYPES = {"due_at": "N"}
# Chalice's logical ids for the consumers in app.py, and their event sources.
CONSUMERS = {
    "PlanWorker": ("PlanWorkerSqsEventSource", "herald-${Stage}-plan", 1),
    "SendWorker": ("SendWorkerSqsEventSource", "herald-${Stage}-send", 10),
    "UrgentSendWorker": ("UrgentSendWorkerSqsEventSource", "herald-${Stage}-urgent-send", 10),
}
SETTINGS_ENV = [
    "HERALD_STAGE",
    "HERALD_ACCOUNTS_TABLE",
    "HERALD_COMMUNICATIONS_TABLE",
    "HERALD_MESSAGES_TABLE",
    "HERALD_AUDIENCES_TABLE",
    "HERALD_PLAN_QUEUE",
    "HERALD_SEND_QUEUE",
    "HERALD_URGENT_SEND_QUEUE",
]


def _tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (make venv)"
    return found


@pytest.fixture(scope="module")
def sam_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("project")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments")
    shutil.copy(ROOT / "app.py", project / "app.py")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=ignore)
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=ignore)
    shutil.copytree(ROOT / "infra", project / "infra")
    (project / "requirements.txt").write_text("")
    out = project / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [_tool("chalice"), "package", "--merge-template", "infra/template.json", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"chalice package failed:\n{result.stdout}\n{result.stderr}"
    return out / "sam.json"


@pytest.fixture(scope="module")
def template(sam_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sam_path.read_text())
    return loaded


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r.get("Type") == type_}


def _by_name(resources: dict[str, dict[str, Any]], name_property: str) -> dict[str, dict[str, Any]]:
    return {r["Properties"][name_property]["Fn::Sub"]: r for r in resources.values()}


def test_merged_template_passes_cfn_lint(sam_path: Path) -> None:
    result = subprocess.run(
        [_tool("cfn-lint"), "--format", "parseable", str(sam_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line or line.startswith("E")]
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational; 1 = crash.
    assert not errors and result.returncode & 3 == 0, result.stdout + result.stderr


def test_every_merged_resource_has_a_type(template: dict[str, Any]) -> None:
    # A fragment in infra/template.json whose Chalice resource was renamed would land typeless.
    typeless = [k for k, r in template["Resources"].items() if "Type" not in r]
    assert typeless == []


def test_tables_have_the_contract_keys_and_indexes(template: dict[str, Any]) -> None:
    tables = _by_name(_of_type(template, "AWS::DynamoDB::Table"), "TableName")
    assert set(tables) == set(TABLE_KEYS)
    for name, table in tables.items():
        props = table["Properties"]
        assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == TABLE_KEYS[name]
        indexes = {
            gsi["IndexName"]: (
                [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]],
                gsi["Projection"]["ProjectionType"],
            )
            for gsi in props.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == TABLE_INDEXES[name], name
        key_attributes = {k for k, _ in TABLE_KEYS[name]} | {
            k for keys, _ in TABLE_INDEXES[name].values() for k, _ in keys
        }
        assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
            attribute: KEY_TYPES.get(attribute, "S") for attribute in key_attributes
        }
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"


def test_queues_redrive_to_their_own_dlq(template: dict[str, Any]) -> None:
    queues = _of_type(template, "AWS::SQS::Queue")
    by_name = _by_name(queues, "QueueName")
    assert set(by_name) == {
        "herald-${Stage}-plan",
        "herald-${Stage}-plan-dlq",
        "herald-${Stage}-send",
        "herald-${Stage}-send-dlq",
        "herald-${Stage}-urgent-send",
        "herald-${Stage}-urgent-send-dlq",
    }
    for kind in ("plan", "send", "urgent-send"):
        queue = by_name[f"herald-${{Stage}}-{kind}"]["Properties"]
        dlq_id = next(
            k for k, r in queues.items() if r["Properties"]["QueueName"]["Fn::Sub"].endswith(f"{kind}-dlq")
        )
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": 5,
        }
        assert queue["SqsManagedSseEnabled"] is True
        dlq = queues[dlq_id]["Properties"]
        assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert dlq["SqsManagedSseEnabled"] is True
        assert "RedrivePolicy" not in dlq


def test_consumers_report_batch_item_failures_from_the_templates_queues(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue_ids = {
        r["Properties"]["QueueName"]["Fn::Sub"]: k for k, r in _of_type(template, "AWS::SQS::Queue").items()
    }
    for function_id, (event_id, queue_name, batch_size) in CONSUMERS.items():
        function = resources[function_id]["Properties"]
        source = function["Events"][event_id]
        assert source["Type"] == "SQS"
        props = source["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["Queue"] == {"Fn::Sub": f"${{{queue_ids[queue_name]}.Arn}}"}
        assert props["BatchSize"] == batch_size
        # A message must stay invisible while Lambda may still be retrying it: 6x the timeout.
        visibility = resources[queue_ids[queue_name]]["Properties"]["VisibilityTimeout"]
        assert visibility >= min(6 * function["Timeout"], SQS_MAX_VISIBILITY_S)
        assert visibility <= SQS_MAX_VISIBILITY_S


def test_every_function_runs_python313_with_the_settings_env(template: dict[str, Any]) -> None:
    functions = _of_type(template, "AWS::Serverless::Function")
    assert {"APIHandler", *CONSUMERS} <= set(functions)
    global_env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(SETTINGS_ENV) <= set(global_env)
    assert global_env["HERALD_STAGE"] == {"Ref": "Stage"}
    for function_id, function in functions.items():
        assert function["Properties"]["Runtime"] == "python3.13", function_id
        # SAM lets a function's own variables win over Globals: none may shadow the settings.
        own_env = function["Properties"].get("Environment", {}).get("Variables", {})
        assert not set(own_env) & set(SETTINGS_ENV), function_id


def test_send_workers_run_at_most_a_bounded_number_at_once(template: dict[str, Any]) -> None:
    # With the rate limits, MaximumConcurrency is what keeps a provider from seeing a stampede.
    resources = template["Resources"]
    for function_id, parameter in (
        ("SendWorker", "SendMaxConcurrency"),
        ("UrgentSendWorker", "UrgentSendMaxConcurrency"),
    ):
        event_id = CONSUMERS[function_id][0]
        props = resources[function_id]["Properties"]["Events"][event_id]["Properties"]
        assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": parameter}}
        assert 2 <= template["Parameters"][parameter]["Default"] <= 1000


def test_the_sweep_runs_every_minute(template: dict[str, Any]) -> None:
    sweep = template["Resources"]["Sweep"]["Properties"]
    schedules = [e for e in sweep["Events"].values() if e["Type"] == "Schedule"]
    assert [e["Properties"]["Schedule"] for e in schedules] == ["rate(1 minute)"]
    assert sweep["Runtime"] == "python3.13"


def test_slot_items_of_the_rate_limiter_expire(template: dict[str, Any]) -> None:
    tables = _by_name(_of_type(template, "AWS::DynamoDB::Table"), "TableName")
    ttl = tables["herald-${Stage}-audiences"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}

"""The deployable template: `chalice package --merge-template infra/template.json`, linted and checked.

Generic on purpose: the tests walk every table, queue and function the package contains, so a new
resource without its encryption, redrive or event-source settings fails here by name.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import CHECKOV, functions, of_type, queue_ids, references, sqs_sources, tool

pytestmark = pytest.mark.infra

SQS_MAX_VISIBILITY_S = 43200
DLQ_RETENTION_S = 14 * 24 * 3600
CHECKOV_ARGS = [
    str(CHECKOV),
    "--skip-download",
    "--quiet",
    "--compact",
    "-o",
    "json",
    "--framework",
    "cloudformation",
]

# The key schema the adapters rely on (other tables may be added; these must not change).
TABLE_KEYS = {
    "herald-${Stage}-accounts": [("account_id", "HASH")],
    "herald-${Stage}-communications": [("comm_id", "HASH")],
    "herald-${Stage}-messages": [("comm_id", "HASH"), ("message_id", "RANGE")],
    "herald-${Stage}-audiences": [("comm_id", "HASH"), ("sk", "RANGE")],
    "herald-${Stage}-audit": [("subject", "HASH"), ("sk", "RANGE")],
    "herald-${Stage}-settings": [("scope", "HASH")],
    "herald-${Stage}-templates": [("template_id", "HASH")],
    "herald-${Stage}-jobs": [("job_id", "HASH")],
    "herald-${Stage}-delivery-events": [("pk", "HASH")],
    "herald-${Stage}-suppressions": [("channel", "HASH"), ("address", "RANGE")],
}


def _cfn_lint(path: Path) -> None:
    result = subprocess.run(
        [tool("cfn-lint"), "--format", "parseable", str(path)], capture_output=True, text=True, timeout=180
    )
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational; 1 = crash.
    assert result.returncode == 0, result.stdout + result.stderr


def test_dev_package_passes_cfn_lint(sam_path: Path) -> None:
    _cfn_lint(sam_path)


def test_prod_package_passes_cfn_lint(prod_sam_path: Path) -> None:
    _cfn_lint(prod_sam_path)


def test_package_passes_checkov_with_every_skip_justified(sam_path: Path, template: dict[str, Any]) -> None:
    assert CHECKOV.exists(), "checkov is not installed: make tools"
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    result = subprocess.run(
        [*CHECKOV_ARGS, "-f", str(sam_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == [] and result.returncode == 0, failed or result.stderr
    for logical_id, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{logical_id} skips {skip['id']} without saying why"


def test_every_merged_resource_has_a_type(template: dict[str, Any]) -> None:
    # A fragment in infra/template.json whose Chalice resource was renamed would land typeless.
    assert [k for k, r in template["Resources"].items() if "Type" not in r] == []


# -- tables ----------------------------------------------------------------------------------


def test_every_table_is_on_demand_encrypted_recoverable_and_protected_on_prod(
    template: dict[str, Any],
) -> None:
    tables = of_type(template, "AWS::DynamoDB::Table")
    assert tables
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert props["SSESpecification"] == {"SSEEnabled": True}, logical_id
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, logical_id
        assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}, logical_id
        assert table["DeletionPolicy"] == "Retain", logical_id
        key_attributes = {k["AttributeName"] for k in props["KeySchema"]} | {
            k["AttributeName"] for gsi in props.get("GlobalSecondaryIndexes", []) for k in gsi["KeySchema"]
        }
        # DynamoDB refuses attribute definitions that no key uses.
        assert {a["AttributeName"] for a in props["AttributeDefinitions"]} == key_attributes, logical_id
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_tables_keep_the_keys_the_adapters_use(template: dict[str, Any]) -> None:
    by_name = {
        t["Properties"]["TableName"]["Fn::Sub"]: t for t in of_type(template, "AWS::DynamoDB::Table").values()
    }
    for name, keys in TABLE_KEYS.items():
        assert [(k["AttributeName"], k["KeyType"]) for k in by_name[name]["Properties"]["KeySchema"]] == keys


def test_retention_expires_messages_audiences_and_raw_events_by_ttl(template: dict[str, Any]) -> None:
    by_name = {
        t["Properties"]["TableName"]["Fn::Sub"]: t for t in of_type(template, "AWS::DynamoDB::Table").values()
    }
    for name in ("herald-${Stage}-messages", "herald-${Stage}-audiences", "herald-${Stage}-delivery-events"):
        assert by_name[name]["Properties"]["TimeToLiveSpecification"] == {
            "AttributeName": "expires_at",
            "Enabled": True,
        }


# -- queues ----------------------------------------------------------------------------------


def test_every_work_queue_redrives_to_its_own_encrypted_dlq(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    work, dlqs = queue_ids(template)
    assert work and dlqs
    targets = []
    for logical_id in work:
        props = queues[logical_id]["Properties"]
        assert "RedrivePolicy" in props, f"{logical_id} has no dead-letter queue"
        assert props["RedrivePolicy"]["maxReceiveCount"] == 5
        targets.append(next(iter(references(props["RedrivePolicy"]["deadLetterTargetArn"]))))
    assert sorted(targets) == sorted(dlqs), "each work queue needs a dead-letter queue of its own"
    for logical_id in dlqs:
        props = queues[logical_id]["Properties"]
        assert props["MessageRetentionPeriod"] == DLQ_RETENTION_S, logical_id
        assert "RedrivePolicy" not in props, logical_id
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, logical_id


def test_every_consumer_reports_partial_failures_with_its_configured_concurrency(
    template: dict[str, Any],
) -> None:
    resources, parameters = template["Resources"], template["Parameters"]
    work, _ = queue_ids(template)
    consumers = 0
    for function_id, function in functions(template).items():
        for event_id, props in sqs_sources(function):
            consumers += 1
            where = f"{function_id}.{event_id}"
            assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], where
            (queue_id,) = references(props["Queue"])
            assert queue_id in work, f"{where} reads {queue_id}, which is not a work queue with a DLQ"
            concurrency = props["ScalingConfig"]["MaximumConcurrency"]
            assert parameters[concurrency["Ref"]]["Type"] == "Number", where
            assert parameters[concurrency["Ref"]]["MinValue"] >= 2, where  # Lambda's floor
            # A message must stay invisible while Lambda may still be retrying it: 6x the timeout.
            visibility = resources[queue_id]["Properties"]["VisibilityTimeout"]
            timeout = function["Properties"]["Timeout"]
            assert min(6 * timeout, SQS_MAX_VISIBILITY_S) <= visibility <= SQS_MAX_VISIBILITY_S, where
    assert consumers >= 2


def test_send_batching_comes_from_parameters(template: dict[str, Any]) -> None:
    source = template["Resources"]["SendWorker"]["Properties"]["Events"]["SendWorkerSqsEventSource"][
        "Properties"
    ]
    assert source["BatchSize"] == {"Ref": "SendBatchSize"}
    assert source["MaximumBatchingWindowInSeconds"] == {"Ref": "SendBatchingWindowSeconds"}
    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "SendMaxConcurrency"}}
    # Past 10 records SQS requires a batching window; the parameter stops there.
    assert template["Parameters"]["SendBatchSize"]["MaxValue"] == 10


# -- functions ---------------------------------------------------------------------------------


def test_every_function_runs_python313_traced_with_its_own_role(template: dict[str, Any]) -> None:
    roles = []
    for function_id, function in functions(template).items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13", function_id
        assert props["Tracing"] == "Active", function_id
        own_env = props["Environment"]["Variables"]
        # SAM lets a function's own variables win over Globals: none may shadow the deployed modes.
        assert not {"HERALD_AUTH_MODE", "HERALD_METRICS", "HERALD_TRACING"} & set(own_env), function_id
        assert own_env["POWERTOOLS_SERVICE_NAME"] == "herald", function_id
        roles.append(props["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(set(roles)), "functions share a role: least privilege is per function"
    global_env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert global_env["HERALD_AUTH_MODE"] == "cognito", "deployed functions must refuse dev tokens"
    assert (global_env["HERALD_METRICS"], global_env["HERALD_TRACING"]) == ("emf", "true")
    assert global_env["HERALD_STAGE"] == {"Ref": "Stage"}
    assert global_env["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "Herald/${Stage}"}


def test_prod_stage_gets_its_own_config(prod_sam_path: Path, template: dict[str, Any]) -> None:
    prod = json.loads(prod_sam_path.read_text())
    assert prod["Resources"]["PlanWorker"]["Properties"]["MemorySize"] == 1024
    assert template["Resources"]["PlanWorker"]["Properties"]["MemorySize"] == 512
    # The senders and the events worker mostly wait on AWS: half the memory, about half the cost.
    for waiting in ("SendWorker", "UrgentSendWorker", "EventsWorker"):
        assert prod["Resources"][waiting]["Properties"]["MemorySize"] == 512
    assert prod["Resources"]["SendWorker"]["Properties"]["Tags"]["aws-chalice"].endswith(
        "stage=prod:app=herald"
    )
    for log_group in of_type(prod, "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 365


def test_files_bucket_expires_files_and_notifies_the_import_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["FilesBucket"]["Properties"]
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-audience-uploads"]["ExpirationInDays"] == {"Ref": "UploadRetentionDays"}
    assert template["Parameters"]["UploadRetentionDays"]["Default"] <= 7
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    (notification,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": ["AudienceImportQueue", "Arn"]}
    assert {"Name": "prefix", "Value": "audience-uploads/"} in notification["Filter"]["S3Key"]["Rules"]
    # S3 checks it may send to the queue when the bucket is created: the policy must exist first.
    assert "AudienceImportQueuePolicy" in resources["FilesBucket"]["DependsOn"]
    policy = resources["AudienceImportQueuePolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert source.endswith(bucket["BucketName"]["Fn::Sub"])


# -- sending: the urgent lane, the sweep and its index ----------------------------------------


def test_the_audiences_table_has_the_sparse_due_index(template: dict[str, Any]) -> None:
    # Leases, UNKNOWN windows and watched communications carry its keys; the sweep queries it.
    by_name = {
        t["Properties"]["TableName"]["Fn::Sub"]: t for t in of_type(template, "AWS::DynamoDB::Table").values()
    }
    props = by_name["herald-${Stage}-audiences"]["Properties"]
    (due,) = [gsi for gsi in props["GlobalSecondaryIndexes"] if gsi["IndexName"] == "due"]
    assert [(k["AttributeName"], k["KeyType"]) for k in due["KeySchema"]] == [
        ("due_pk", "HASH"),
        ("due_at", "RANGE"),
    ]
    assert due["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert (types["due_pk"], types["due_at"]) == ("S", "N")


def test_send_workers_run_at_most_a_bounded_number_at_once(template: dict[str, Any]) -> None:
    # With the rate limits, MaximumConcurrency is what keeps a provider from seeing a stampede.
    resources = template["Resources"]
    for function_id, parameter in (
        ("SendWorker", "SendMaxConcurrency"),
        ("UrgentSendWorker", "UrgentSendMaxConcurrency"),
    ):
        (props,) = [p for _, p in sqs_sources(resources[function_id])]
        assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": parameter}}
        assert 2 <= template["Parameters"][parameter]["Default"] <= 1000


def test_the_urgent_lane_has_its_own_queue(template: dict[str, Any]) -> None:
    names = {q["Properties"]["QueueName"]["Fn::Sub"] for q in of_type(template, "AWS::SQS::Queue").values()}
    assert {"herald-${Stage}-urgent-send", "herald-${Stage}-urgent-send-dlq"} <= names


def test_the_schedule_tick_and_the_sweep_run_every_minute(template: dict[str, Any]) -> None:
    for function_id in ("ScheduleTick", "Sweep"):
        props = template["Resources"][function_id]["Properties"]
        schedules = [e for e in props["Events"].values() if e["Type"] == "Schedule"]
        assert [e["Properties"]["Schedule"] for e in schedules] == ["rate(1 minute)"], function_id

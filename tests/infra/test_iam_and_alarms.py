"""Least privilege and alarms, checked over whatever the package contains.

For each function: the resources its environment names (and the queue it consumes) are granted to
its role, nothing else of this stack is, no action has a wildcard, and `Resource: "*"` appears only
in the statements README.md lists under "Where IAM takes only `*`". Every DLQ, work queue and
function has its alarms. A function or resource added later fails here until it has them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.ports import MetricName
from tests.infra.conftest import ROOT, functions, of_type, queue_ids, references, sqs_sources

pytestmark = pytest.mark.infra

IDENTITY_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
# Resources whose access a role must be granted explicitly (what a function's env can name).
GRANTABLE_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SecretsManager::Secret",
    "AWS::SES::ConfigurationSet",
    "AWS::SMSVOICE::ConfigurationSet",
)
CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(function: dict[str, Any]) -> str:
    role: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def _role_policies(template: dict[str, Any], role_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement that applies to the role."""
    resources = template["Resources"]
    for policy in resources[role_id]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            yield f"{role_id}/{policy['PolicyName']}", statement
    attached = {
        next(iter(references(arn))) for arn in resources[role_id]["Properties"].get("ManagedPolicyArns", [])
    }
    for policy_id, policy in of_type(template, *IDENTITY_POLICY_TYPES).items():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []) or policy_id in attached:
            for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                yield policy_id, statement


def _all_identity_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for role_id in of_type(template, "AWS::IAM::Role"):
        yield from _role_policies(template, role_id)


def _grantable(template: dict[str, Any]) -> set[str]:
    return set(of_type(template, *GRANTABLE_TYPES))


def _env_resources(template: dict[str, Any], function: dict[str, Any]) -> dict[str, set[str]]:
    """Env var -> the grantable resources its value names (the function's own env and Globals)."""
    env = {
        **template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **function["Properties"].get("Environment", {}).get("Variables", {}),
    }
    grantable = _grantable(template)
    return {
        name: references(value) & grantable for name, value in env.items() if references(value) & grantable
    }


def _granted(template: dict[str, Any], role_id: str) -> dict[str, set[str]]:
    """Resource logical id -> actions the role has on it."""
    granted: dict[str, set[str]] = {}
    for _, statement in _role_policies(template, role_id):
        if statement["Effect"] != "Allow":
            continue
        for resource in _as_list(statement["Resource"]):
            for logical_id in references(resource):
                granted.setdefault(logical_id, set()).update(_as_list(statement["Action"]))
    return granted


def _readme_exceptions() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where IAM takes only `*`", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^- `(\w+)`", section, flags=re.MULTILINE))


def test_no_identity_policy_grants_a_wildcard_action(template: dict[str, Any]) -> None:
    statements = list(_all_identity_statements(template))
    assert statements
    for where, statement in statements:
        for action in _as_list(statement.get("Action", [])):
            assert "*" not in action, f"{where}: {action}"
        assert "NotAction" not in statement and "NotResource" not in statement, where


def test_star_resources_are_only_the_documented_exceptions(template: dict[str, Any]) -> None:
    documented = _readme_exceptions()
    assert documented, "README.md lists no IAM exceptions"
    seen = set()
    for where, statement in _all_identity_statements(template):
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                assert statement.get("Sid") in documented, f"{where}: Resource * without a documented Sid"
                seen.add(statement["Sid"])
            else:
                # Scoped: an ARN built from this stack's resources, parameters or name, never a literal.
                assert isinstance(resource, dict) and references(resource), f"{where}: {resource}"
    key_sids = {
        s["Sid"]
        for key in of_type(template, "AWS::KMS::Key").values()
        for s in key["Properties"]["KeyPolicy"]["Statement"]
    }
    assert documented == seen | key_sids, "README lists exceptions the template no longer has"


@pytest.mark.parametrize(
    "function_id", ["APIHandler", "PlanWorker", "SendWorker", "UrgentSendWorker", "ScheduleTick", "Sweep"]
)
def test_known_functions_exist(template: dict[str, Any], function_id: str) -> None:
    assert function_id in functions(template)


def test_every_resource_a_function_names_is_granted_to_it_and_nothing_more(template: dict[str, Any]) -> None:
    grantable = _grantable(template)
    for function_id, function in functions(template).items():
        role_id = _role_of(function)
        granted = _granted(template, role_id)
        named = _env_resources(template, function)
        for env_name, logical_ids in named.items():
            for logical_id in logical_ids:
                assert logical_id in granted, (
                    f"{function_id} reads {env_name} ({logical_id}) but may not use it"
                )
        consumed = {queue for _, props in sqs_sources(function) for queue in references(props["Queue"])}
        for queue in consumed:
            assert granted.get(queue, set()) >= CONSUME_ACTIONS, f"{function_id} may not consume {queue}"
        allowed = set().union(*named.values(), consumed) if named or consumed else set()
        extra = (set(granted) & grantable) - allowed
        assert not extra, f"{function_id} is granted {sorted(extra)}, which its environment does not name"


def test_consumers_wait_for_their_queue_grants(template: dict[str, Any]) -> None:
    # The event source mapping checks the role's SQS permissions when it is created.
    for function_id, function in functions(template).items():
        role_id = _role_of(function)
        for _, props in sqs_sources(function):
            (queue,) = references(props["Queue"])
            granting = {
                policy_id
                for policy_id, statement in _role_policies(template, role_id)
                if policy_id in template["Resources"]
                and queue in references(statement["Resource"])
                and set(_as_list(statement["Action"])) >= CONSUME_ACTIONS
            }
            assert granting and granting <= set(_as_list(function.get("DependsOn", []))), function_id


def test_send_worker_sends_email_only_as_our_identity(template: dict[str, Any]) -> None:
    statements = [
        s for _, s in _role_policies(template, "SendWorkerRole") if "ses:SendEmail" in _as_list(s["Action"])
    ]
    (statement,) = statements
    resources = json.dumps(statement["Resource"])
    assert (
        "identity/${EmailIdentity}" in resources and "configuration-set/${EmailConfigurationSet}" in resources
    )


# -- alarms ----------------------------------------------------------------------------------


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()]


def _alarm_on(template: dict[str, Any], metric: str, dimension: str, value: Any) -> dict[str, Any]:
    found = [
        a
        for a in _alarms(template)
        if a["MetricName"] == metric and {"Name": dimension, "Value": value} in a.get("Dimensions", [])
    ]
    assert len(found) == 1, f"expected one {metric} alarm for {dimension}={value}, found {len(found)}"
    return found[0]


def test_every_dead_letter_queue_alarms_on_any_message(template: dict[str, Any]) -> None:
    _, dlqs = queue_ids(template)
    for dlq in dlqs:
        alarm = _alarm_on(
            template, "ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [dlq, "QueueName"]}
        )
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold"), dlq


def test_every_work_queue_alarms_on_the_age_of_its_oldest_message(template: dict[str, Any]) -> None:
    work, _ = queue_ids(template)
    for queue in work:
        alarm = _alarm_on(
            template, "ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}
        )
        assert alarm["Threshold"] == {"Ref": "QueueAgeAlarmSeconds"}, queue


def test_every_function_alarms_on_errors_and_throttles(template: dict[str, Any]) -> None:
    for function_id in functions(template):
        for metric in ("Errors", "Throttles"):
            alarm = _alarm_on(template, metric, "FunctionName", {"Ref": function_id})
            assert alarm["Namespace"] == "AWS/Lambda", function_id


def test_provider_throttles_alarm_watches_the_metric_the_sender_emits(template: dict[str, Any]) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    service = config["environment_variables"]["POWERTOOLS_SERVICE_NAME"]
    alarm = _alarm_on(template, MetricName.PROVIDER_THROTTLES, "service", service)
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Namespace"] == namespace


def test_every_alarm_notifies_the_alarm_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert len(alarms) >= 10
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["TreatMissingData"] == "notBreaching"
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}

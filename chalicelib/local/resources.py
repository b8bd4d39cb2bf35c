"""Create Herald's resources on moto from ``infra/template.json``.

The template is the one definition of every table key, index, queue, topic and bucket (deploy
merges it into what ``chalice package`` generates). Locally we hand moto's CloudFormation the
template's own standalone resources of the types moto's CloudFormation can create, so there is
no second copy of any key schema anywhere. Secrets Manager secrets, which moto's CloudFormation
does not know, are created through the Secrets Manager API from the same definitions; moto's
CloudFormation creates a bucket but ignores its lifecycle rules and event notifications, so those
are applied afterwards through the S3 API, from the same template properties.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.local import MOTO_ACCOUNT_ID
from chalicelib.settings import get_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_DIR / "infra" / "template.json"

# Resource types the local stack creates with moto's CloudFormation. The rest are either fragments
# merged into Chalice's functions (only meaningful after `chalice package`) or types moto's
# CloudFormation skips (alarms, SES/SMS configuration sets, Cognito, IAM policies on Chalice's roles).
LOCAL_RESOURCE_TYPES = frozenset(
    {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket", "AWS::KMS::Key"}
)
SECRET_TYPE = "AWS::SecretsManager::Secret"
# moto's CloudFormation skips delivery streams: the local stack creates them through Firehose's API.
DELIVERY_STREAM_TYPE = "AWS::KinesisFirehose::DeliveryStream"

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The infra template as a dict."""
    with path.open(encoding="utf-8") as f:
        template: dict[str, Any] = json.load(f)
    return template


def local_template(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of the infra template that stands alone: parameters, conditions, and the resources
    of LOCAL_RESOURCE_TYPES (tables, queues, topics with their subscriptions, buckets, keys)."""
    template = template if template is not None else load_template()
    resources = {
        logical_id: dict(resource)
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") in LOCAL_RESOURCE_TYPES
    }
    for resource in resources.values():
        # Dependencies on resources left out (the queue policy) do not apply locally.
        depends = [d for d in resource.pop("DependsOn", []) if d in resources]
        if depends:
            resource["DependsOn"] = depends
    return {
        "AWSTemplateFormatVersion": template.get("AWSTemplateFormatVersion", "2010-09-09"),
        "Parameters": template.get("Parameters", {}),
        "Conditions": template.get("Conditions", {}),
        "Resources": resources,
    }


def secret_names(stage: str, template: dict[str, Any] | None = None) -> dict[str, str]:
    """The template's Secrets Manager secrets for `stage`, by logical id."""
    template = template if template is not None else load_template()
    return {
        logical_id: _for_stage(resource["Properties"]["Name"], stage)
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == SECRET_TYPE
    }


def _for_stage(name: dict[str, str], stage: str) -> str:
    """A resource's name (``{"Fn::Sub": "herald-${Stage}-…"}``) on `stage`."""
    return name["Fn::Sub"].replace("${Stage}", stage)


def stack_name(stage: str) -> str:
    return f"herald-{stage}-resources"


def create_resources_with_clients(
    cloudformation: Any,
    ses: Any,
    stage: str = "dev",
    from_email: str | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
) -> dict[str, str]:
    """Create the tables, queues (with DLQ redrive), topics, buckets (with their lifecycle
    rules and S3 notifications), the events delivery stream and the SES sender identity;
    with a `secretsmanager` client, the template's (empty) provider-key secrets too.

    With a ``dynamodb`` client, the tables' TimeToLiveSpecification is applied too (moto's
    CloudFormation leaves it out).

    Works with any clients pointing at moto: a moto server (``create_resources``) or
    in-process ``moto.mock_aws()`` (``boto3.client("cloudformation")``,
    ``boto3.client("ses")``). Idempotent: an existing stack for the stage is kept.
    Returns the environment variables naming resources whose names moto chose (the bucket),
    as the deployed template sets them on its functions.
    """
    name = stack_name(stage)
    created = False
    if not _stack_exists(cloudformation, name):
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(local_template()),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        )
        status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if status != "CREATE_COMPLETE":
            raise RuntimeError(f"local stack {name} ended {status}")
        created = True
    ses.verify_email_identity(EmailAddress=from_email or get_settings().from_email)
    if dynamodb is not None:
        _apply_time_to_live(dynamodb, stage)
    if secretsmanager is not None:
        _create_secrets(secretsmanager, stage)
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }
    if created:
        _configure_buckets(cloudformation, physical)
        _create_delivery_streams(cloudformation, physical, stage)
    return _environment(physical)


def _apply_time_to_live(dynamodb: Any, stage: str) -> None:
    for resource in local_template()["Resources"].values():
        ttl = resource["Properties"].get("TimeToLiveSpecification")
        if resource["Type"] != "AWS::DynamoDB::Table" or not ttl:
            continue
        table = _for_stage(resource["Properties"]["TableName"], stage)
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)


def _sibling_client(cloudformation: Any, service: str) -> Any:
    """A client of `service` on the same moto as `cloudformation` (a server, or in-process)."""
    endpoint = cloudformation.meta.endpoint_url
    on_server = {} if endpoint.endswith(".amazonaws.com") else {"endpoint_url": endpoint}
    return boto3.client(
        service, region_name=cloudformation.meta.region_name, **on_server, **DUMMY_CREDENTIALS
    )


def _configure_buckets(cloudformation: Any, physical: dict[str, str]) -> None:
    """Apply each bucket's lifecycle rules and queue notifications from the template."""
    s3, sqs = _sibling_client(cloudformation, "s3"), _sibling_client(cloudformation, "sqs")
    for logical_id, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        bucket, props = physical[logical_id], resource.get("Properties", {})
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in rules]}
            )
        queues = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        if queues:
            configurations = []
            for queue in queues:
                queue_url = physical[queue["Queue"]["Fn::GetAtt"][0]]
                arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
                rules_ = queue.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                configurations.append(
                    {
                        "QueueArn": arn["Attributes"]["QueueArn"],
                        "Events": [queue["Event"]],
                        "Filter": {"Key": {"FilterRules": rules_}},
                    }
                )
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configurations}
            )


def _create_delivery_streams(cloudformation: Any, physical: dict[str, str], stage: str) -> None:
    """Create the template's Firehose delivery streams (moto's CloudFormation does not know them),
    writing to the stack's buckets with the template's prefixes and buffering."""
    firehose = _sibling_client(cloudformation, "firehose")
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != DELIVERY_STREAM_TYPE:
            continue
        props = resource["Properties"]
        destination = dict(props["ExtendedS3DestinationConfiguration"])
        bucket = physical[destination["BucketARN"]["Fn::GetAtt"][0]]
        role = destination["RoleARN"]["Fn::GetAtt"][0]
        destination["BucketARN"] = f"arn:aws:s3:::{bucket}"
        destination["RoleARN"] = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/{role}"
        firehose.create_delivery_stream(
            DeliveryStreamName=_for_stage(props["DeliveryStreamName"], stage),
            DeliveryStreamType=props["DeliveryStreamType"],
            ExtendedS3DestinationConfiguration=destination,
        )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    rule = {name: _parameter_default(value) for name, value in rule.items()}
    api_rule: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        api_rule["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        api_rule["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    return api_rule


def _parameter_default(value: Any) -> Any:
    """A ``{"Ref": parameter}`` as the parameter's default (the local stack passes only Stage)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = load_template().get("Parameters", {}).get(value["Ref"])
        if parameter is not None:
            return parameter["Default"]
    return value


def _environment(physical: dict[str, str]) -> dict[str, str]:
    """Settings variables the template's functions (or Globals) set from a bucket's name
    (``{"Ref": bucket}``)."""
    template = load_template()
    buckets = {k for k, r in template["Resources"].items() if r.get("Type") == "AWS::S3::Bucket"}
    fragments = [template.get("Globals", {}).get("Function", {})] + [
        r.get("Properties", {}) for r in template["Resources"].values() if "Type" not in r
    ]
    environment: dict[str, str] = {}
    for fragment in fragments:
        for name, value in fragment.get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and value.get("Ref") in buckets and value["Ref"] in physical:
                environment[name] = physical[value["Ref"]]
    return environment


def create_resources(endpoint_url: str, stage: str = "dev", region: str | None = None) -> dict[str, str]:
    """Create Herald's resources on the moto server at ``endpoint_url``; returns their env variables."""
    region = region or get_settings().region

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint_url, region_name=region, **DUMMY_CREDENTIALS)

    return create_resources_with_clients(
        cloudformation=client("cloudformation"),
        ses=client("ses"),
        stage=stage,
        dynamodb=client("dynamodb"),
        secretsmanager=client("secretsmanager"),
    )


def _create_secrets(secretsmanager: Any, stage: str) -> None:
    existing = {
        s["Name"]
        for page in secretsmanager.get_paginator("list_secrets").paginate()
        for s in page["SecretList"]
    }
    for name in secret_names(stage).values():
        if name not in existing:
            secretsmanager.create_secret(Name=name)


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError:
        return False
    return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)

"""Create Herald's resources on moto from ``infra/template.json``.

The template is the one definition of every table key, index, queue, topic and bucket (deploy
merges it into what ``chalice package`` generates). Locally we hand moto's CloudFormation the
template's own standalone resources of the types moto's CloudFormation can create, so there is
no second copy of any key schema anywhere. Secrets Manager secrets, which moto's CloudFormation
does not know, are created through the Secrets Manager API from the same definitions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

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
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") in LOCAL_RESOURCE_TYPES
    }
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
        logical_id: resource["Properties"]["Name"]["Fn::Sub"].replace("${Stage}", stage)
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == SECRET_TYPE
    }


def stack_name(stage: str) -> str:
    return f"herald-{stage}-resources"


def create_resources_with_clients(
    cloudformation: Any,
    ses: Any,
    stage: str = "dev",
    from_email: str | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
) -> None:
    """Create the tables, queues (with DLQ redrive), topics, buckets and the SES sender identity;
    with a `secretsmanager` client, the template's (empty) provider-key secrets too.

    With a ``dynamodb`` client, the tables' TimeToLiveSpecification is applied too (moto's
    CloudFormation leaves it out).

    Works with any clients pointing at moto: a moto server (``create_resources``) or
    in-process ``moto.mock_aws()`` (``boto3.client("cloudformation")``,
    ``boto3.client("ses")``). Idempotent: an existing stack for the stage is kept.
    """
    name = stack_name(stage)
    if not _stack_exists(cloudformation, name):
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(local_template()),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        )
        status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if status != "CREATE_COMPLETE":
            raise RuntimeError(f"local stack {name} ended {status}")
    ses.verify_email_identity(EmailAddress=from_email or get_settings().from_email)
    if dynamodb is not None:
        _apply_time_to_live(dynamodb, stage)
    if secretsmanager is not None:
        _create_secrets(secretsmanager, stage)


def _apply_time_to_live(dynamodb: Any, stage: str) -> None:
    for resource in local_template()["Resources"].values():
        ttl = resource["Properties"].get("TimeToLiveSpecification")
        if resource["Type"] != "AWS::DynamoDB::Table" or not ttl:
            continue
        table = resource["Properties"]["TableName"]["Fn::Sub"].replace("${Stage}", stage)
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)


def create_resources(endpoint_url: str, stage: str = "dev", region: str | None = None) -> None:
    """Create Herald's resources on the moto server at ``endpoint_url``."""
    region = region or get_settings().region

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint_url, region_name=region, **DUMMY_CREDENTIALS)

    create_resources_with_clients(
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

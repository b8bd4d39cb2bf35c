"""Create Herald's tables, queues and events topic on moto from ``infra/template.json``.

The template is the one definition of every table key, index and queue (deploy merges it into
what ``chalice package`` generates). Locally we hand moto's CloudFormation the template's own
resources (tables, queues, the SNS topic with its SQS subscription), so there is no second copy of
any key schema anywhere.
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

# Resource types the local stack creates; the rest (the fragments merged into Chalice's
# functions, Globals) only make sense after `chalice package`.
LOCAL_RESOURCE_TYPES = frozenset({"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic"})

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The infra template as a dict."""
    with path.open(encoding="utf-8") as f:
        template: dict[str, Any] = json.load(f)
    return template


def local_template(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of the infra template that stands alone: parameters, tables and queues."""
    template = template if template is not None else load_template()
    resources = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") in LOCAL_RESOURCE_TYPES
    }
    return {
        "AWSTemplateFormatVersion": template.get("AWSTemplateFormatVersion", "2010-09-09"),
        "Parameters": template.get("Parameters", {}),
        "Resources": resources,
    }


def stack_name(stage: str) -> str:
    return f"herald-{stage}-resources"


def create_resources_with_clients(
    cloudformation: Any,
    ses: Any,
    stage: str = "dev",
    from_email: str | None = None,
) -> None:
    """Create the tables, queues (with DLQ redrive) and the SES sender identity.

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


def create_resources(endpoint_url: str, stage: str = "dev", region: str | None = None) -> None:
    """Create Herald's resources on the moto server at ``endpoint_url``."""
    region = region or get_settings().region
    create_resources_with_clients(
        cloudformation=boto3.client(
            "cloudformation", endpoint_url=endpoint_url, region_name=region, **DUMMY_CREDENTIALS
        ),
        ses=boto3.client("ses", endpoint_url=endpoint_url, region_name=region, **DUMMY_CREDENTIALS),
        stage=stage,
    )


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError:
        return False
    return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)

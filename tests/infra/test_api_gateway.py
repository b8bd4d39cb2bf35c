"""API Gateway as packaged: Cognito on admin routes only, API.md's error shape on its own answers,
throttling, and the event plumbing from SES / End User Messaging SMS to the events queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.auth import ADMIN_AUTHORIZER_NAME, is_public_path

pytestmark = pytest.mark.infra


def _swagger(template: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    return body


def test_admin_routes_need_cognito_and_public_routes_do_not(template: dict[str, Any]) -> None:
    paths = _swagger(template)["paths"]
    assert "/health" in paths and "/communications" in paths
    for path, methods in paths.items():
        for method, operation in methods.items():
            security = operation.get("security")
            if is_public_path(path):
                assert security is None, f"{method.upper()} {path} must verify itself, not need a token"
            else:
                assert security == [{ADMIN_AUTHORIZER_NAME: []}], f"{method.upper()} {path} is not protected"
    assert is_public_path("/webhooks/sendgrid") and is_public_path("/unsubscribe")
    assert not is_public_path("/webhooks") and not is_public_path("/accounts")


def test_authorizer_uses_the_given_user_pool_or_the_one_the_stack_creates(template: dict[str, Any]) -> None:
    authorizer = _swagger(template)["securityDefinitions"][ADMIN_AUTHORIZER_NAME]
    assert authorizer["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["AdminUserPool", "Arn"]}, {"Ref": "UserPoolArn"}]}
    ]
    assert template["Conditions"]["CreateUserPool"] == {"Fn::Equals": [{"Ref": "UserPoolArn"}, ""]}
    resources = template["Resources"]
    groups = {
        r["Properties"]["GroupName"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    assert groups == {"mass_communications", "mass_communications:read"}
    for logical_id in ("AdminUserPool", "AdminGroup", "ViewerGroup", "AdminWebClient"):
        assert resources[logical_id]["Condition"] == "CreateUserPool"
    assert resources["AdminUserPool"]["Properties"]["AdminCreateUserConfig"] == {
        "AllowAdminCreateUserOnly": True
    }
    assert resources["AdminWebClient"]["Properties"]["GenerateSecret"] is False


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        ("UNAUTHORIZED", 401, "unauthorized"),
        ("ACCESS_DENIED", 403, "forbidden"),
        ("MISSING_AUTHENTICATION_TOKEN", 404, "not_found"),
        ("REQUEST_TOO_LARGE", 413, "payload_too_large"),
        ("THROTTLED", 429, "throttled"),
        ("DEFAULT_4XX", None, "bad_request"),
        ("DEFAULT_5XX", None, "server_error"),
    ],
)
def test_gateway_answers_in_the_api_error_shape(
    template: dict[str, Any], response_type: str, status: int | None, code: str
) -> None:
    response = _swagger(template)["x-amazon-apigateway-gateway-responses"][response_type]
    assert response.get("statusCode") == status
    # API Gateway substitutes $context.error.messageString with a quoted JSON string.
    rendered = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", json.dumps('Limit "exceeded"')
    )
    body = json.loads(rendered)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["error"]["details"] == []


def test_stage_is_throttled_traced_and_measured(template: dict[str, Any]) -> None:
    props = template["Resources"]["RestAPI"]["Properties"]
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    assert settings["MetricsEnabled"] is True


def test_email_and_sms_events_reach_the_event_files_queue_through_one_delivery_stream(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    stream = resources["EventsDeliveryStream"]["Properties"]
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == {"Fn::GetAtt": ["EventsBucket", "Arn"]}
    assert destination["Prefix"] == "events/"
    # Files of at most 1 MB (the worker records one per invocation), written at least every minute.
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 1}
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}

    bucket = resources["EventsBucket"]["Properties"]
    (notification,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": ["EventFilesQueue", "Arn"]}
    assert notification["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "events/"}]}}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-event-files"]["ExpirationInDays"] == {"Ref": "EventFileRetentionDays"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    (queue_statement,) = resources["EventFilesQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert queue_statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert queue_statement["Condition"]["ArnEquals"] == {
        "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::herald-${Stage}-${AWS::AccountId}-events"}
    }
    assert bucket["BucketName"] == {"Fn::Sub": "herald-${Stage}-${AWS::AccountId}-events"}

    to_stream = {"Fn::GetAtt": ["EventsDeliveryStream", "Arn"]}
    publisher = {"Fn::GetAtt": ["EventsPublisherRole", "Arn"]}
    email = resources["EmailEventsToStream"]["Properties"]
    assert email["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    assert email["EventDestination"]["KinesisFirehoseDestination"] == {
        "DeliveryStreamARN": to_stream,
        "IAMRoleARN": publisher,
    }
    # Delivery news only: a Send event per email would double what each message costs downstream.
    matched = set(email["EventDestination"]["MatchingEventTypes"])
    assert {"bounce", "complaint", "delivery", "reject"} <= matched and "send" not in matched
    (sms,) = resources["SmsConfigurationSet"]["Properties"]["EventDestinations"]
    assert sms["KinesisFirehoseDestination"] == {"DeliveryStreamArn": to_stream, "IamRoleArn": publisher}
    assert sms["Enabled"] is True

    role = resources["EventsPublisherRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert set(trust["Principal"]["Service"]) == {"ses.amazonaws.com", "sms-voice.amazonaws.com"}
    (policy,) = role["Policies"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert set(grant["Action"]) == {"firehose:PutRecord", "firehose:PutRecordBatch"}
    assert grant["Resource"] == to_stream


def test_sms_replies_reach_the_events_queue_through_the_topic(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    topic = resources["EventsTopic"]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["EventsQueue", "Arn"]}}]
    assert resources["EventsQueue"]["Properties"]["QueueName"] == {"Fn::Sub": "herald-${Stage}-events"}
    (queue_statement,) = resources["EventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert queue_statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert queue_statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "EventsTopic"}}}
    (publishers,) = resources["EventsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert publishers["Principal"]["Service"] == ["sms-voice.amazonaws.com"]
    assert topic["KmsMasterKeyId"] == {"Ref": "TopicsKey"}
    assert resources["TopicsKey"]["Properties"]["EnableKeyRotation"] is True


def test_uploads_expire_and_never_go_public(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["FilesBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert {rule["Status"] for rule in rules.values()} == {"Enabled"}
    assert rules["expire-audience-uploads"]["ExpirationInDays"] == {"Ref": "UploadRetentionDays"}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (tls,) = resources["FilesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_provider_keys_live_in_secrets_manager(template: dict[str, Any]) -> None:
    secrets = {
        r["Properties"]["Name"]["Fn::Sub"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SecretsManager::Secret"
    }
    assert secrets == {
        "herald/${Stage}/sendgrid-api-key",
        "herald/${Stage}/sendgrid-webhook-public-key",
        "herald/${Stage}/mailgun-api-key",
        "herald/${Stage}/mailgun-signing-key",
        "herald/${Stage}/twilio-auth-token",
        "herald/${Stage}/unsubscribe-key",
    }

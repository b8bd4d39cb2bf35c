"""Herald's DynamoDB client passes items through as wire JSON: what it writes and reads must be
exactly what a standard boto3 client writes and reads."""

from __future__ import annotations

import boto3
import pytest
from boto3.dynamodb.types import Binary

from chalicelib.adapters.dynamodb.common import from_item, to_item
from chalicelib.settings import Settings
from chalicelib.wiring import Services

pytestmark = pytest.mark.integration

KEY = {"pk": {"S": "comm#1"}, "sk": {"N": "7"}}
PLAIN = {
    "pk": "comm#1",
    "sk": 7,
    "name": "Coupure planifiée — 15 min ✓",
    "count": 12,
    "ratio": 0.25,
    "big": 12345678901234567890,
    "negative": -3,
    "flag": True,
    "off": False,
    "nothing_here": [],
    "content": Binary(b"\x00\x01compressed\xff"),
    "channels": ["email", "sms"],
    "nested": {"hours": {"start": "08:00", "days": ["mon", "tue"]}, "limits": [1, 2.5, {"deep": None}]},
}


@pytest.fixture
def table(aws: None) -> str:
    boto3.client("dynamodb").create_table(
        TableName="codec",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return "codec"


def test_items_written_by_herald_read_the_same_through_a_standard_client(table):
    herald = Services(Settings()).dynamodb
    herald.put_item(TableName=table, Item=to_item(PLAIN))

    item = boto3.client("dynamodb").get_item(TableName=table, Key=KEY)["Item"]
    assert item["content"] == {"B": b"\x00\x01compressed\xff"}
    assert item["big"] == {"N": "12345678901234567890"}
    assert item["name"] == {"S": PLAIN["name"]}
    assert item["nested"]["M"]["limits"]["L"][2] == {"M": {"deep": {"NULL": True}}}


def test_herald_reads_back_what_it_wrote_including_binary_and_numbers(table):
    herald = Services(Settings()).dynamodb
    herald.put_item(TableName=table, Item=to_item(PLAIN))

    read = herald.get_item(TableName=table, Key=KEY)["Item"]
    assert from_item(read) == PLAIN
    assert isinstance(from_item(read)["big"], int)


def test_keys_expression_values_and_pages_pass_through_unchanged(table):
    herald = Services(Settings()).dynamodb
    for sk in range(5):
        herald.put_item(TableName=table, Item=to_item({**PLAIN, "sk": sk}))

    seen, start = [], None
    while True:
        page = herald.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND sk >= :from",
            ExpressionAttributeValues={":pk": {"S": "comm#1"}, ":from": {"N": "1"}},
            Limit=2,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        seen += [from_item(item)["sk"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == [1, 2, 3, 4]


def test_other_clients_in_the_process_keep_botocore_s_own_parsing(table):
    Services(Settings()).dynamodb.put_item(TableName=table, Item=to_item(PLAIN))

    later = boto3.client("dynamodb")
    item = later.get_item(TableName=table, Key=KEY)["Item"]
    assert isinstance(item["content"]["B"], bytes)

"""The embedded stack's DynamoDB under concurrent workers: transactions neither fail nor undo
other requests' writes (moto's own rollback copies whole tables; see chalicelib/local/moto_dynamodb.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from chalicelib.local import moto_dynamodb
from chalicelib.local.stack import free_port

TABLE = "concurrency"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    moto_dynamodb.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client
    server.stop()


def _counter_transaction(client: Any, worker: int, step: int) -> None:
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "counter"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"record-{worker}-{step}"}}}},
        ]
    )
    # A plain write from the same worker between transactions, as a send worker's records are.
    client.put_item(TableName=TABLE, Item={"pk": {"S": f"plain-{worker}-{step}"}})


def test_concurrent_transactions_all_land_and_keep_every_other_write(dynamodb: Any) -> None:
    workers, steps = 8, 40
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda w: [_counter_transaction(dynamodb, w, s) for s in range(steps)], range(workers)))
    counter = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "counter"}})["Item"]
    assert counter["n"] == {"N": str(workers * steps)}
    keys = {item["pk"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"]}
    assert {f"record-{w}-{s}" for w in range(workers) for s in range(steps)} <= keys
    assert {f"plain-{w}-{s}" for w in range(workers) for s in range(steps)} <= keys


def test_a_cancelled_transaction_undoes_only_its_own_writes(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "kept"}, "v": {"S": "before"}})
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "kept"}, "v": {"S": "overwritten"}}}},
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new-in-cancelled"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "guarded"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    kept = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "kept"}})["Item"]
    assert kept["v"] == {"S": "before"}
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "new-in-cancelled"}})


def test_conditional_partiql_updates_in_a_batch_fail_alone_and_never_create_items(dynamodb):
    dynamodb.put_item(
        TableName=TABLE, Item={"pk": {"S": "sent"}, "status": {"S": "SENT"}, "error": {"S": "x"}}
    )
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "failed"}, "status": {"S": "FAILED"}})
    update = (
        f'UPDATE "{TABLE}" SET "status"=? SET "tally"=? REMOVE "error"'
        ' WHERE "pk"=? AND "status"=? AND "tally" IS MISSING'
    )

    def statement(pk: str) -> dict[str, Any]:
        return {
            "Statement": update,
            "Parameters": [{"S": "DELIVERED"}, {"S": "t1"}, {"S": pk}, {"S": "SENT"}],
        }

    responses = dynamodb.batch_execute_statement(
        Statements=[statement("sent"), statement("failed"), statement("absent"), statement("sent")]
    )["Responses"]

    codes = [r.get("Error", {}).get("Code") for r in responses]
    assert codes == [None, "ConditionalCheckFailed", "ConditionalCheckFailed", "ConditionalCheckFailed"]
    sent = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "sent"}})["Item"]
    assert sent == {"pk": {"S": "sent"}, "status": {"S": "DELIVERED"}, "tally": {"S": "t1"}}
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "failed"}})["Item"]["status"] == {
        "S": "FAILED"
    }
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "absent"}})


def test_partiql_conditions_compare_numbers_by_value_and_fail_on_an_absent_attribute(dynamodb):
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "timed"}, "event_at": {"N": "1732671234.50"}})
    update = f'UPDATE "{TABLE}" SET "status"=? WHERE "pk"=? AND "{{}}"=?'

    responses = dynamodb.batch_execute_statement(
        Statements=[
            {
                "Statement": update.format("missing"),
                "Parameters": [{"S": "BOUNCED"}, {"S": "timed"}, {"N": "1732671234.5"}],
            },
            {
                "Statement": update.format("event_at"),
                "Parameters": [{"S": "DELIVERED"}, {"S": "timed"}, {"N": "1732671234.5"}],
            },
        ]
    )["Responses"]

    assert [r.get("Error", {}).get("Code") for r in responses] == ["ConditionalCheckFailed", None]
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "timed"}})["Item"]
    assert item["status"] == {"S": "DELIVERED"}


def test_a_batch_of_more_than_25_statements_is_refused(dynamodb):
    statements = [
        {"Statement": f'UPDATE "{TABLE}" SET "n"=? WHERE "pk"=?', "Parameters": [{"N": "1"}, {"S": "x"}]}
    ] * 26
    with pytest.raises(ClientError) as refused:
        dynamodb.batch_execute_statement(Statements=statements)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_projected_reads_return_exactly_the_named_attributes(dynamodb: Any) -> None:
    item = {
        "pk": {"S": "projected"},
        "email": {"S": "ada@example.com"},
        "channels": {"L": [{"S": "email"}, {"S": "sms"}]},
        "prefs": {"M": {"lang": {"S": "fr"}, "tz": {"S": "UTC"}}},
        "tags": {"SS": ["a", "b"]},
        "bio": {"S": "x" * 2_000},
    }
    dynamodb.put_item(TableName=TABLE, Item=item)

    def get(projection: str, names: dict[str, str] | None = None) -> dict[str, Any]:
        extra = {"ExpressionAttributeNames": names} if names else {}
        request = {"Keys": [{"pk": {"S": "projected"}}], "ProjectionExpression": projection, **extra}
        response = dynamodb.batch_get_item(RequestItems={TABLE: request})
        found: dict[str, Any] = response["Responses"][TABLE][0]
        return found

    top_level = get(
        "#p0, #p1, #p2, #p3, nowhere",
        {f"#p{i}": n for i, n in enumerate(["pk", "email", "channels", "tags"])},
    )
    assert top_level == {key: item[key] for key in ("pk", "email", "channels", "tags")}
    # A nested path keeps moto's own projection.
    assert get("prefs.lang, email") == {"prefs": {"M": {"lang": {"S": "fr"}}}, "email": item["email"]}
    assert get("channels[1]") == {"channels": {"L": [{"S": "sms"}]}}
    # The stored item is untouched by projecting it.
    whole = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "projected"}})["Item"]
    assert whole == item


def test_a_query_reads_its_partition_in_key_order_with_paging(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="ranged",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for pk in ("a", "b", "c"):
        for n in (3, 1, 4, 5, 9, 2, 6):
            dynamodb.put_item(TableName="ranged", Item={"pk": {"S": pk}, "sk": {"S": f"task#{n}"}})
        dynamodb.put_item(TableName="ranged", Item={"pk": {"S": pk}, "sk": {"S": "counts"}})

    def keys(**options: Any) -> list[str]:
        request = {
            "TableName": "ranged",
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :task)",
            "ExpressionAttributeValues": {":pk": {"S": "b"}, ":task": {"S": "task#"}},
            **options,
        }
        found: list[str] = []
        while True:
            response = dynamodb.query(**request)
            found += [item["sk"]["S"].removeprefix("task#") for item in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    assert keys() == ["1", "2", "3", "4", "5", "6", "9"]
    assert keys(ScanIndexForward=False, Limit=3) == ["9", "6", "5", "4", "3", "2", "1"]
    nothing = dynamodb.query(
        TableName="ranged",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "absent"}},
    )
    assert nothing["Items"] == [] and nothing["Count"] == 0
    # The table's scan still sees every partition.
    assert dynamodb.scan(TableName="ranged")["Count"] == 24


def _ranged_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_batch_reads_answer_as_single_reads_do_for_every_kind_of_value(dynamodb: Any) -> None:
    _ranged_table(dynamodb, "batch-read")
    every_kind = {
        "text": {"S": "Ada"},
        "number": {"N": "12.5"},
        "blob": {"B": b"\x00\xffherald"},
        "texts": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2"]},
        "blobs": {"BS": [b"\x01", b"\x02"]},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "list": {"L": [{"S": "email"}, {"M": {"deep": {"B": b"\x03"}}}]},
        "map": {"M": {"lang": {"S": "fr"}, "tags": {"SS": ["x"]}}},
    }
    keys = [{"pk": {"S": f"account-{n}"}, "sk": {"N": str(n)}} for n in range(5)]
    for key in keys[:4]:  # the last key has no item
        dynamodb.put_item(TableName="batch-read", Item={**key, **every_kind})
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "other-table"}, "v": {"S": "1"}})
    names = {"#p0": "pk", "#p1": "blob", "#p2": "list", "#p3": "absent"}

    def single(table: str, key: dict[str, Any], **projection: Any) -> dict[str, Any] | None:
        item: dict[str, Any] | None = dynamodb.get_item(TableName=table, Key=key, **projection).get("Item")
        return item

    for projection in ({}, {"ProjectionExpression": "#p0, #p1, #p2, #p3", "ExpressionAttributeNames": names}):
        response = dynamodb.batch_get_item(
            RequestItems={
                "batch-read": {"Keys": keys, **projection},
                TABLE: {"Keys": [{"pk": {"S": "other-table"}}, {"pk": {"S": "absent"}}]},
            }
        )
        expected = [item for key in keys if (item := single("batch-read", key, **projection)) is not None]
        assert len(expected) == 4
        assert sorted(response["Responses"]["batch-read"], key=str) == sorted(expected, key=str)
        assert response["Responses"][TABLE] == [{"pk": {"S": "other-table"}, "v": {"S": "1"}}]
        assert response["UnprocessedKeys"] == {}
    projected = dynamodb.batch_get_item(
        RequestItems={
            "batch-read": {
                "Keys": keys[:1],
                "ProjectionExpression": "#p1",
                "ExpressionAttributeNames": {"#p1": "blob"},
            }
        }
    )
    assert projected["Responses"]["batch-read"] == [{"blob": {"B": b"\x00\xffherald"}}]
    # Herald's form of request was answered from the stored items, not by moto's item machinery.
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends["123456789012"]["us-east-1"]
    assert moto_dynamodb.quick_batch_get(backend, {"batch-read": {"Keys": keys}}) is not None
    assert (
        moto_dynamodb.quick_batch_get(backend, {"batch-read": {"Keys": keys, "AttributesToGet": ["pk"]}})
        is None
    )


@pytest.mark.parametrize(
    ("request_items", "code"),
    [
        ({TABLE: {"Keys": [{"pk": {"S": "same"}}, {"pk": {"S": "same"}}]}}, "ValidationException"),
        ({TABLE: {"Keys": [{"pk": {"S": f"k{n}"}} for n in range(101)]}}, "ValidationException"),
        ({"no-such-table": {"Keys": [{"pk": {"S": "k"}}]}}, "ResourceNotFoundException"),
        (
            {
                TABLE: {
                    "Keys": [{"pk": {"S": "k"}}],
                    "ProjectionExpression": "#a",
                    "ExpressionAttributeNames": {"#a": "v", "#unused": "w"},
                }
            },
            "ValidationException",
        ),
        ({TABLE: {"Keys": [{"wrong": {"S": "k"}}]}}, "ValidationException"),
    ],
)
def test_batch_reads_of_other_forms_keep_dynamodbs_errors(
    dynamodb: Any, request_items: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as refused:
        dynamodb.batch_get_item(RequestItems=request_items)
    assert refused.value.response["Error"]["Code"] == code


def test_an_item_over_dynamodbs_size_limit_is_refused_and_one_under_it_is_kept(dynamodb: Any) -> None:
    def item(name: str, text_bytes: int) -> dict[str, Any]:
        # Five attributes sharing the text: the limit is on their sum, not on any one of them.
        return {"pk": {"S": name}, **{f"part{n}": {"S": "x" * (text_bytes // 5)} for n in range(5)}}

    dynamodb.put_item(TableName=TABLE, Item=item("under-the-limit", 390_000))
    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(TableName=TABLE, Item=item("over-the-limit", 420_000))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "maximum allowed size" in refused.value.response["Error"]["Message"]
    stored = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "under-the-limit"}})
    assert len(stored["Item"]["part4"]["S"]) == 78_000
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "over-the-limit"}})

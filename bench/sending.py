"""What a send costs in AWS requests and DynamoDB write units, per message.

A 20,000-message communication (10,000 accounts, email and SMS each) goes through the real
planner and send handlers on moto (in-process), fed by SQS as Lambda's event source would.
Every call the application's boto3 clients make is counted with botocore event hooks; the
provider calls (SES SendEmail, SNS Publish) are left out, as are the event source mapping's own
ReceiveMessage/DeleteMessage (Lambda's, reported on their own line).

Write units are computed, not measured: moto reports no consumed capacity. For every write the
item is read from moto's tables before and after, and DynamoDB's on-demand billing is applied:
ceil(max(size before, size after) / 1 KB) per item written, doubled inside transactions, plus
the writes each global secondary index takes (an index whose key changes takes a delete and a
put; an ALL projection is rewritten whenever its item changes; a KEYS_ONLY one only when its
keys do). Sizes follow DynamoDB's rules (attribute names and values in UTF-8; numbers about one
byte per two digits plus one; one byte per list or map element plus three).

    python -m bench.sending            # make bench-sending
    python -m bench.sending --quick    # 2,000 messages
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from typing import Any

MESSAGES = 20_000
QUICK_MESSAGES = 2_000
PROVIDER_SERVICES = frozenset({"sesv2", "sns"})
ACCOUNT, REGION = "123456789012", "us-east-1"
KB = 1024


def run(quick: bool = False) -> dict[str, float]:
    """Send a communication of 20,000 messages (2,000 when quick) and return the cost per message."""
    _offline()
    import boto3
    from moto import mock_aws

    from chalicelib.local.resources import create_resources_with_clients
    from tests.support import quicker_moto

    with mock_aws(), quicker_moto():
        create_resources_with_clients(boto3.client("cloudformation"), boto3.client("ses"))
        return _Bench(QUICK_MESSAGES if quick else MESSAGES).run()


class _Bench:
    def __init__(self, messages: int) -> None:
        from chalicelib.settings import Settings
        from chalicelib.wiring import Services
        from tests.support import SimulatedClock

        self.messages = messages
        self.clock = SimulatedClock()
        # A production SES/SNS account's quota, so that the rate limit binds as it would there.
        self.settings = Settings(email_rate_per_s="200", sms_rate_per_s="200")
        self.svc = Services(self.settings, self.clock)
        self.requests: Counter[str] = Counter()
        self.write_units = 0.0
        self.esm_requests = 0
        self._before: dict[int, list[tuple[str, dict[str, Any], int, dict[str, Any] | None]]] = {}

    def run(self) -> dict[str, float]:
        comm_id = self._communication()
        self._meter(self.svc.dynamodb)
        self._meter(self.svc.sqs)
        for provider in (self.svc.sesv2, self.svc.sns):
            # A provider call takes time: the rate limiter sees a realistic pace.
            provider.meta.events.register("before-call", lambda **_: self.clock.advance(0.01))
        started = time.monotonic()
        self.svc.communications.send(comm_id, by=self._admin())
        self._drain()
        elapsed = time.monotonic() - started
        communication = self.svc.communications.get(comm_id)
        counts = communication.counts
        assert (str(communication.status), counts.sent, counts.total) == (
            "COMPLETED",
            self.messages,
            self.messages,
        )
        ddb = sum(n for (service, _), n in self.requests.items() if service == "dynamodb")
        sqs = sum(n for (service, _), n in self.requests.items() if service == "sqs")
        return {
            "messages": float(self.messages),
            "aws_requests_per_message": (ddb + sqs) / self.messages,
            "ddb_requests_per_message": ddb / self.messages,
            "sqs_requests_per_message": sqs / self.messages,
            "ddb_write_units_per_message": self.write_units / self.messages,
            "esm_sqs_requests_per_message": self.esm_requests / self.messages,
            "seconds": elapsed,
            **{f"calls.{service}.{op}": float(n) for (service, op), n in sorted(self.requests.items())},
        }

    # -- the communication ----------------------------------------------------------------------

    @staticmethod
    def _admin() -> Any:
        from chalicelib.domain.models import Admin

        return Admin("bench", "Bench", "Mark", can_write=True)

    def _communication(self) -> str:
        from chalicelib.domain.communications import DraftFields
        from chalicelib.domain.models import Account, Channel, Content, EmailContent, SmsContent

        accounts = [
            Account(
                account_id=f"{i:08d}-0000-4000-8000-000000000000",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                language=["en", "fr", "fr-CA"][i % 3],
                channels=[Channel.EMAIL, Channel.SMS],
                email=f"person{i}@example.com",
                phone=f"+1514{i:07d}",
                service_area=["north", "south"][i % 2],
                attributes={"plan": "fibre-500"},
            )
            for i in range(self.messages // 2)
        ]
        self.svc.directory.put_many(accounts)
        # A styled notice: about 6 KB of HTML per language, as a real email template is. The
        # communication item carries it, so what writes that item shows in the write units.
        row = (
            "<tr><td style='padding:4px'>{{ account.first_name }}, network maintenance tonight from 1 "
            "to 3 am "
            "in your area: service may be interrupted for a few minutes.</td></tr>"
        )
        html = "<table style='width:100%;font-family:Arial'>" + row * 30 + "</table>"
        content = Content(
            email={
                "en": EmailContent("Maintenance, {{ account.first_name }}", html, "Tonight 1-3 am."),
                "fr": EmailContent(
                    "Maintenance, {{ account.first_name }}", html.replace("tonight", "ce soir"), "Ce soir."
                ),
            },
            sms={"en": SmsContent("Maintenance tonight 1-3 am."), "fr": SmsContent("Maintenance ce soir.")},
        )
        draft = self.svc.communications.create(
            DraftFields(
                name="Bench", channels=[Channel.EMAIL, Channel.SMS], default_language="en", content=content
            ),
            by=self._admin(),
        )
        csv = "account_id\n" + "\n".join(a.account_id for a in accounts) + "\n"
        self.svc.audience.set_from_csv(draft.comm_id, csv, by=self._admin())
        return draft.comm_id

    def _drain(self) -> None:
        import boto3

        from chalicelib.local.pollers import sqs_event
        from chalicelib.workers import plan as plan_worker
        from chalicelib.workers import send as send_worker
        from tests.support import SimulatedContext

        esm = boto3.client("sqs", region_name=REGION)  # Lambda's event source mapping: not metered
        lanes = {
            "plan": self.settings.plan_queue,
            "send": self.settings.send_queue,
            "urgent-send": self.settings.urgent_send_queue,
        }
        urls = {lane: esm.get_queue_url(QueueName=name)["QueueUrl"] for lane, name in lanes.items()}
        while True:
            worked = False
            for lane, url in urls.items():
                batch = esm.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=1 if lane == "plan" else 10
                ).get("Messages", [])
                self.esm_requests += 1
                if not batch:
                    continue
                worked = True
                event = sqs_event(batch, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{lane}", REGION)
                if lane == "plan":
                    response = plan_worker.handle(event, self.svc)
                else:
                    response = send_worker.handle(event, SimulatedContext(self.clock), self.svc)
                assert not response.get("batchItemFailures"), response
                esm.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                    ],
                )
                self.esm_requests += 1
            if not worked:
                return

    # -- metering -------------------------------------------------------------------------------

    def _meter(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"before-parameter-build.{service}", self._count)
        if service == "dynamodb":
            events.register("before-parameter-build.dynamodb", self._snapshot)
            events.register("after-call.dynamodb", self._charge)

    def _count(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_id.hyphenize()
        if service not in PROVIDER_SERVICES:
            self.requests[(service, model.name)] += 1

    def _snapshot(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        writes = list(_writes(model.name, params))
        if writes:
            context["bench_writes"] = [
                (table, key, factor, _item(table, key)) for table, key, factor in writes
            ]

    def _charge(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        for table, key, factor, before in context.get("bench_writes", []):
            after = _item(table, key)
            size = max(_size(before), _size(after))
            units = math.ceil(size / KB) if size else 1
            self.write_units += factor * (units + _index_units(table, before, after))


def _writes(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """(table, key, 2 in a transaction else 1) of each item a write request touches."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        key = params.get("Key") or _key_of(params["TableName"], params["Item"])
        return [(params["TableName"], key, 1)]
    if operation == "BatchWriteItem":
        found = []
        for table, requests in params["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    found.append((table, _key_of(table, request["PutRequest"]["Item"]), 1))
                else:
                    found.append((table, request["DeleteRequest"]["Key"], 1))
        return found
    if operation == "TransactWriteItems":
        found = []
        for entry in params["TransactItems"]:
            kind, op = next(iter(entry.items()))
            if kind == "ConditionCheck":
                continue
            found.append((op["TableName"], op.get("Key") or _key_of(op["TableName"], op["Item"]), 2))
        return found
    return []


def _table(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].get_table(name)


def _key_of(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    table = _table(table_name)
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


def _item(table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models import dynamodb_backends

    found = dynamodb_backends[ACCOUNT][REGION].get_item(table_name, key)
    return json.loads(json.dumps(found.to_json()["Attributes"], default=str)) if found else None


def _index_units(table_name: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    table = _table(table_name)
    table_keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    units = 0
    for index in table.global_indexes:
        keys = [k["AttributeName"] for k in index.schema]
        projection = index.projection.get("ProjectionType", "ALL")

        def projected(
            item: dict[str, Any] | None, keys: list[str] = keys, projection: str = projection
        ) -> Any:
            if item is None or not all(k in item for k in keys):
                return None
            if projection == "KEYS_ONLY":
                return {k: item[k] for k in dict.fromkeys(table_keys + keys)}
            return item

        old, new = projected(before), projected(after)
        if old == new:
            continue
        old_keys = {k: old[k] for k in keys} if old else None
        new_keys = {k: new[k] for k in keys} if new else None
        if old is not None and old_keys != new_keys:
            units += math.ceil(_size(old) / KB)  # the old index entry is deleted
        if new is not None:
            units += math.ceil(_size(new) / KB)
    return units


def _size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(raw)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def _offline() -> None:
    """Dummy credentials; nothing may reach past moto."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        os.environ.pop(name, None)


def render(result: dict[str, float]) -> str:
    targets = {"aws_requests_per_message": 0.25, "ddb_write_units_per_message": 2.0}
    messages, seconds = result["messages"], result["seconds"]
    lines = [f"sending: {messages:.0f} messages through the real handlers on moto ({seconds:.0f} s)", ""]
    lines.append(f"{'measure':<34} {'per message':>12} {'target':>8}")
    for key in (
        "aws_requests_per_message",
        "ddb_requests_per_message",
        "sqs_requests_per_message",
        "ddb_write_units_per_message",
        "esm_sqs_requests_per_message",
    ):
        target = f"<= {targets[key]:g}" if key in targets else ""
        lines.append(f"{key:<34} {result[key]:>12.4f} {target:>8}")
    lines += ["", f"{'AWS call':<34} {'count':>12}"]
    lines += [f"{key[6:]:<34} {value:>12.0f}" for key, value in result.items() if key.startswith("calls.")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sending", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_MESSAGES} messages instead of {MESSAGES}"
    )
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print(render(result))
    within = result["aws_requests_per_message"] <= 0.25 and result["ddb_write_units_per_message"] <= 2
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())

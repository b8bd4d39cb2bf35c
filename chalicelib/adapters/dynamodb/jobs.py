"""Jobs in DynamoDB: one item each, removed by TTL a week after they were created."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamodb.common import from_item, to_item
from chalicelib.domain.models import Job, JobState, iso, utc_now

KEEP_FOR = timedelta(days=7)


def job_to_item(job: Job) -> dict[str, Any]:
    return to_item(
        {
            "job_id": job.job_id,
            "kind": job.kind,
            "params": json.dumps(job.params),
            "state": str(job.state),
            "done": job.done,
            "total": job.total,
            "result": json.dumps(job.result) if job.result is not None else None,
            "result_key": job.result_key,
            "error": job.error,
            "created_at": iso(job.created_at),
            "updated_at": iso(job.updated_at),
            "expires_at": int((job.created_at + KEEP_FOR).timestamp()),
        }
    )


def job_from_item(item: dict[str, Any]) -> Job:
    values = from_item(item)
    return Job(
        job_id=values["job_id"],
        kind=values["kind"],
        params=json.loads(values.get("params") or "{}"),
        state=JobState(values["state"]),
        done=int(values.get("done", 0)),
        total=int(values["total"]) if values.get("total") is not None else None,
        result=json.loads(values["result"]) if values.get("result") else None,
        result_key=values.get("result_key"),
        error=values.get("error"),
        created_at=datetime.fromisoformat(values["created_at"]) if values.get("created_at") else utc_now(),
        updated_at=datetime.fromisoformat(values["updated_at"]) if values.get("updated_at") else utc_now(),
    )


class DynamoJobStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def create(self, job: Job) -> None:
        self._client.put_item(
            TableName=self._table, Item=job_to_item(job), ConditionExpression="attribute_not_exists(job_id)"
        )

    def get(self, job_id: str) -> Job | None:
        response = self._client.get_item(
            TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return job_from_item(item) if item else None

    def update(self, job: Job) -> None:
        self._client.put_item(TableName=self._table, Item=job_to_item(job))

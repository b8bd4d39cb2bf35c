"""Account routes: the operator's directory."""

from __future__ import annotations

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import (
    CSV_TYPES,
    caller,
    current_request,
    json_object,
    json_response,
    limit_param,
    page_response,
    query_param,
    raw_body,
    route,
)
from chalicelib.domain.models import Account
from chalicelib.domain.ports import AccountFilter
from chalicelib.wiring import services

bp = Blueprint(__name__)


@route(bp, "/accounts/export.csv", methods=["GET"])
def export_accounts() -> Response:
    from chalicelib.domain.models import Job

    caller(bp)
    exported = services().exports.export(_filter(current_request(bp)))
    if isinstance(exported, Job):
        return json_response({"job_id": exported.job_id, "job": exported.to_api()}, status=202)
    return Response(
        body=exported,
        status_code=200,
        headers={"Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="accounts.csv"'},
    )


@route(bp, "/accounts/{account_id}", methods=["PUT"])
def put_account(account_id: str) -> Response:
    caller(bp, write=True)
    account, created = services().accounts.put(account_id, json_object(current_request(bp)))
    return json_response(account.to_api(), status=201 if created else 200)


@route(bp, "/accounts/{account_id}", methods=["GET"])
def get_account(account_id: str) -> Response:
    caller(bp)
    return json_response(services().accounts.get(account_id).to_api())


@route(bp, "/accounts", methods=["GET"])
def list_accounts() -> Response:
    caller(bp)
    request = current_request(bp)
    page = services().accounts.list_page(
        _filter(request), query_param(request, "cursor"), limit_param(request)
    )
    return page_response(page, Account.to_api)


def _filter(request: Request) -> AccountFilter:
    return AccountFilter(
        **{key: _values(query_param(request, key)) for key in ("service_area", "network_provider", "segment")}
    )


def _values(raw: str | None) -> list[str] | None:
    return [v.strip() for v in raw.split(",") if v.strip()] if raw else None


@route(bp, "/accounts/import", methods=["POST"], content_types=CSV_TYPES)
def import_accounts() -> Response:
    caller(bp, write=True)
    body = raw_body(current_request(bp), services().settings.max_csv_bytes)
    return json_response(services().accounts.import_csv(body).to_api())

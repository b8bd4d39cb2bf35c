"""Operator settings routes: sender identity, defaults, providers, limits, approval, retention."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import (
    JSON_TYPES,
    caller,
    current_request,
    json_object,
    json_response,
    limit_param,
    page_response,
    query_param,
    route,
)
from chalicelib.domain.models import AuditEntry
from chalicelib.wiring import services

bp = Blueprint(__name__)


@route(bp, "/settings", methods=["GET"])
def get_settings() -> Response:
    caller(bp)
    return json_response(services().operator_settings.get().to_api())


@route(bp, "/settings", methods=["PUT"], content_types=JSON_TYPES)
def put_settings() -> Response:
    from chalicelib.api.schemas import SettingsBody, validated

    admin = caller(bp, write=True)
    changes = validated(SettingsBody, json_object(current_request(bp))).to_changes()
    return json_response(services().operator_settings.update(changes, by=admin).to_api())


@route(bp, "/settings/audit", methods=["GET"])
def settings_audit() -> Response:
    caller(bp)
    request = current_request(bp)
    page = services().operator_settings.audit_trail(query_param(request, "cursor"), limit_param(request))
    return page_response(page, AuditEntry.to_api)

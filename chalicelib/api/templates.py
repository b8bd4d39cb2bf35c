"""Saved template routes."""

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
from chalicelib.domain.models import Template
from chalicelib.wiring import services

bp = Blueprint(__name__)


@route(bp, "/templates", methods=["POST"], content_types=JSON_TYPES)
def create_template() -> Response:
    from chalicelib.api.schemas import TemplateBody, validated

    admin = caller(bp, write=True)
    fields = validated(TemplateBody, json_object(current_request(bp))).to_fields()
    return json_response(services().templates.create(fields, by=admin).to_api(), status=201)


@route(bp, "/templates", methods=["GET"])
def list_templates() -> Response:
    caller(bp)
    request = current_request(bp)
    page = services().templates.list_page(query_param(request, "cursor"), limit_param(request))
    return page_response(page, Template.to_api)


@route(bp, "/templates/{template_id}", methods=["GET"])
def get_template(template_id: str) -> Response:
    caller(bp)
    return json_response(services().templates.get(template_id).to_api())


@route(bp, "/templates/{template_id}", methods=["PUT"], content_types=JSON_TYPES)
def put_template(template_id: str) -> Response:
    from chalicelib.api.schemas import TemplateBody, validated

    caller(bp, write=True)
    fields = validated(TemplateBody, json_object(current_request(bp))).to_fields()
    return json_response(services().templates.update(template_id, fields).to_api())


@route(bp, "/templates/{template_id}", methods=["DELETE"])
def delete_template(template_id: str) -> Response:
    caller(bp, write=True)
    services().templates.delete(template_id)
    return Response(body="", status_code=204)

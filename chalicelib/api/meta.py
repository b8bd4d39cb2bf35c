"""Health and the OpenAPI document."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import json_response, route

bp = Blueprint(__name__)


@route(bp, "/health", methods=["GET"])
def health() -> Response:
    return json_response({"status": "ok"})


@route(bp, "/openapi.json", methods=["GET"])
def openapi() -> Response:
    from chalicelib.api.openapi import document

    return json_response(document())

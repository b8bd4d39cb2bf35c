"""Communication routes: drafts, audience, sending, and the per-message record."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import (
    CSV_TYPES,
    JSON_TYPES,
    caller,
    content_type,
    current_request,
    json_object,
    json_response,
    limit_param,
    page_response,
    query_param,
    raw_body,
    route,
)
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.models import (
    AuditEntry,
    Channel,
    Communication,
    CommunicationStatus,
    Message,
    MessageStatus,
    iso,
)
from chalicelib.wiring import services

bp = Blueprint(__name__)

AUDIENCE_TEMPLATE = "account_id\n"


def _detail(communication: Communication) -> dict[str, object]:
    return communication.to_api(detail=True)


@route(bp, "/communications", methods=["POST"], content_types=JSON_TYPES)
def create_communication() -> Response:
    from chalicelib.api.schemas import CommunicationCreate, validated

    admin = caller(bp, write=True)
    fields = validated(CommunicationCreate, json_object(current_request(bp))).to_fields()
    return json_response(_detail(services().communications.create(fields, by=admin)), status=201)


@route(bp, "/communications", methods=["GET"])
def list_communications() -> Response:
    caller(bp)
    request = current_request(bp)
    status = _enum_param(CommunicationStatus, query_param(request, "status"), "status")
    page = services().communications.list_page(status, query_param(request, "cursor"), limit_param(request))
    return page_response(page, Communication.to_api)


@route(bp, "/communications/audience-template.csv", methods=["GET"])
def audience_template() -> Response:
    caller(bp)
    return Response(
        body=AUDIENCE_TEMPLATE,
        status_code=200,
        headers={"Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="audience.csv"'},
    )


@route(bp, "/communications/{comm_id}", methods=["GET"])
def get_communication(comm_id: str) -> Response:
    caller(bp)
    service = services().communications
    communication = service.get(comm_id)
    body = _detail(communication)
    span = service.deferred_span(communication)
    # Messages waiting for their contact window (counts.deferred) go out from, and until, these.
    body["deferred_until"] = iso(span[0]) if span else None
    body["deferred_until_latest"] = iso(span[1]) if span else None
    return json_response(body)


@route(bp, "/communications/{comm_id}", methods=["PATCH"], content_types=JSON_TYPES)
def patch_communication(comm_id: str) -> Response:
    from chalicelib.api.schemas import CommunicationPatch, validated

    admin = caller(bp, write=True)
    fields = validated(CommunicationPatch, json_object(current_request(bp))).to_fields()
    return json_response(_detail(services().communications.update_draft(comm_id, fields, by=admin)))


@route(bp, "/communications/{comm_id}", methods=["DELETE"])
def delete_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    services().communications.delete_draft(comm_id, by=admin)
    return Response(body="", status_code=204)


@route(bp, "/communications/{comm_id}/audience", methods=["PUT"], content_types=CSV_TYPES + JSON_TYPES)
def put_audience(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    request = current_request(bp)
    if content_type(request) in JSON_TYPES:
        from chalicelib.api.schemas import AudienceFilterBody, validated

        account_filter = validated(AudienceFilterBody, json_object(request)).to_filter()
        return json_response(services().audience.set_from_filter(comm_id, account_filter, by=admin))
    body = raw_body(request, services().settings.max_csv_bytes)
    return json_response(services().audience.set_from_csv(comm_id, body, by=admin))


@route(bp, "/communications/{comm_id}/audience/upload-url", methods=["POST"])
def audience_upload_url(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(services().audience.upload_url(comm_id, by=admin), status=201)


@route(bp, "/communications/{comm_id}/audience/errors.csv", methods=["GET"])
def audience_errors(comm_id: str) -> Response:
    caller(bp)
    url = services().audience.errors_download_url(comm_id)
    return json_response({"url": url}, status=302, headers={"Location": url})


@route(bp, "/communications/{comm_id}/preview", methods=["POST"], content_types=JSON_TYPES)
def preview(comm_id: str) -> Response:
    from chalicelib.api.schemas import PreviewBody, validated

    caller(bp)
    body = validated(PreviewBody, json_object(current_request(bp)))
    channel = Channel(body.channel) if body.channel else None
    return json_response(services().review.preview(comm_id, body.account_id, channel))


@route(bp, "/communications/{comm_id}/dry-run", methods=["POST"])
def dry_run(comm_id: str) -> Response:
    caller(bp)
    communication = services().communications.get(comm_id)
    if communication.audience.accepted <= services().settings.dry_run_direct_max_accounts:
        return json_response(services().review.dry_run(comm_id))
    job = services().jobs.start("dry_run", {"comm_id": comm_id})
    return json_response({"job_id": job.job_id, "job": job.to_api()}, status=202)


@route(bp, "/communications/{comm_id}/test-send", methods=["POST"], content_types=JSON_TYPES)
def test_send(comm_id: str) -> Response:
    from chalicelib.api.schemas import TestSendBody, validated

    admin = caller(bp, write=True)
    body = validated(TestSendBody, json_object(current_request(bp)))
    report = services().review.test_send(comm_id, admin, body.account_id, body.email, body.phone)
    return json_response(report)


@route(bp, "/communications/{comm_id}/send", methods=["POST"])
def send_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().communications.send(comm_id, by=admin)), status=202)


@route(bp, "/communications/{comm_id}/schedule", methods=["POST"], content_types=JSON_TYPES)
def schedule_communication(comm_id: str) -> Response:
    from chalicelib.api.schemas import ScheduleBody, validated

    admin = caller(bp, write=True)
    send_at = validated(ScheduleBody, json_object(current_request(bp))).moment
    return json_response(_detail(services().communications.schedule(comm_id, send_at, by=admin)))


@route(bp, "/communications/{comm_id}/unschedule", methods=["POST"])
def unschedule_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().communications.unschedule(comm_id, by=admin)))


@route(bp, "/communications/{comm_id}/cancel", methods=["POST"])
def cancel_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().communications.cancel(comm_id, by=admin)))


@route(bp, "/communications/{comm_id}/pause", methods=["POST"])
def pause_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().control.pause(comm_id, by=admin)))


@route(bp, "/communications/{comm_id}/resume", methods=["POST"])
def resume_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().control.resume(comm_id, by=admin)))


@route(bp, "/communications/{comm_id}/approve", methods=["POST"])
def approve_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().communications.approve(comm_id, by=admin)), status=202)


@route(bp, "/communications/{comm_id}/withdraw", methods=["POST"])
def withdraw_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(_detail(services().communications.withdraw(comm_id, by=admin)))


@route(bp, "/communications/{comm_id}/audit", methods=["GET"])
def communication_audit(comm_id: str) -> Response:
    caller(bp)
    request = current_request(bp)
    page = services().communications.audit_trail(
        comm_id, query_param(request, "cursor"), limit_param(request)
    )
    return page_response(page, AuditEntry.to_api)


@route(bp, "/communications/{comm_id}/messages", methods=["GET"])
def list_messages(comm_id: str) -> Response:
    caller(bp)
    request = current_request(bp)
    channel = _enum_param(Channel, query_param(request, "channel"), "channel")
    statuses = _statuses(query_param(request, "status"))
    page = services().communications.list_messages(
        comm_id,
        channel,
        statuses,
        query_param(request, "account_id"),
        query_param(request, "cursor"),
        limit_param(request),
    )
    return page_response(page, Message.to_api)


@route(bp, "/communications/{comm_id}/messages/{message_id}", methods=["GET"])
def get_message(comm_id: str, message_id: str) -> Response:
    caller(bp)
    return json_response(services().communications.get_message(comm_id, message_id))


def _enum_param[E: (Channel, CommunicationStatus)](kind: type[E], raw: str | None, name: str) -> E | None:
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError as error:
        allowed = ", ".join(str(v) for v in kind)
        raise ValidationError(
            f"{name} must be one of {allowed}", [{"field": name, "error": "unknown"}]
        ) from error


def _statuses(raw: str | None) -> frozenset[MessageStatus] | None:
    if raw is None:
        return None
    try:
        return frozenset(MessageStatus(part.strip().upper()) for part in raw.split(",") if part.strip())
    except ValueError as error:
        allowed = ", ".join(MessageStatus)
        raise ValidationError(
            f"status must list message statuses ({allowed})", [{"field": "status"}]
        ) from error

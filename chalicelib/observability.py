"""Structured logs with correlation ids, and X-Ray subsegments, around every invocation.

Registered in app.py as Chalice middleware. Powertools is imported on the first invocation, not
when app.py is imported, so a cold start only pays for it once it serves something; and JSON logs
are switched on only inside Lambda (locally and in tests, logging stays as configured there).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from chalicelib.settings import get_settings

# Every module logs through logging.getLogger(__name__), under this parent.
APP_LOGGER = "chalicelib"


def middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler: a correlation id on each log line, a trace subsegment."""
    logger = powertools_logger()
    if logger is not None:
        logger.set_correlation_id(correlation_id(event))
    with _subsegment(type(event).__name__):
        return get_response(event)


def correlation_id(event: Any) -> str | None:
    """API Gateway's request id for HTTP requests; SQS records get theirs per record (bind_record)."""
    context = getattr(event, "context", None)
    if isinstance(context, dict):
        request_id = context.get("requestId")
        return str(request_id) if request_id else None
    return None


def bind_record(message_id: str) -> None:
    """Tag the log lines of one SQS record with its message id."""
    logger = powertools_logger()
    if logger is not None:
        logger.set_correlation_id(message_id)


def running_on_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


@lru_cache(maxsize=1)
def powertools_logger() -> Any:
    """The Powertools JSON logger, shared with every chalicelib.* logger; None outside Lambda."""
    if not running_on_lambda():
        return None
    from aws_lambda_powertools import Logger

    settings = get_settings()
    logger = Logger(service=settings.service_name)
    logger.append_keys(stage=settings.stage, function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    app_logger = logging.getLogger(APP_LOGGER)
    # Module loggers propagate to chalicelib, which writes through Powertools' formatter, so their
    # lines carry the correlation id and their `extra` ids. Not to the root: Lambda's own handler
    # there would print every line twice.
    app_logger.handlers = [logger.registered_handler]
    app_logger.setLevel(logger.log_level)
    app_logger.propagate = False
    return logger


@lru_cache(maxsize=1)
def tracer() -> Any:
    """Powertools Tracer (patches boto3 so AWS calls show as subsegments); None when tracing is off."""
    if not (get_settings().tracing and running_on_lambda()):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=get_settings().service_name)


@contextmanager
def _subsegment(kind: str) -> Iterator[None]:
    active = tracer()
    if active is None:
        yield
        return
    with active.provider.in_subsegment(
        f"## {os.environ.get('AWS_LAMBDA_FUNCTION_NAME', 'herald')}"
    ) as segment:
        segment.put_annotation("event", kind)
        yield

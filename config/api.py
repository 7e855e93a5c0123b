"""API plumbing shared by every app: RFC 9457 problem responses and pagination."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are URNs: stable identifiers that do not pretend to be web pages.
PROBLEM_BASE = "urn:crossell:problem:"


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class ProblemError(exceptions.APIException):
    """An API error with an explicit problem type and optional pointer list."""

    def __init__(
        self,
        *,
        status_code: int,
        title: str,
        detail: str,
        type_: str,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail=detail)
        self.status_code = status_code
        self.title = title
        self.problem_type = type_
        self.errors = errors or []


def problem_response(
    *, status_code: int, title: str, detail: str, type_: str, errors: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _pointer(path: list[str | int]) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else "#"


def flatten_validation_errors(detail: Any, path: list[str | int] | None = None) -> list[dict[str, str]]:
    """Turn DRF's nested error dict/list into ``[{pointer, detail}]`` entries."""
    path = path or []
    out: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = path if key == "non_field_errors" else [*path, key]
            out.extend(flatten_validation_errors(value, sub))
    elif isinstance(detail, list):
        if detail and all(isinstance(d, (str, exceptions.ErrorDetail)) for d in detail):
            out.extend({"pointer": _pointer(path), "detail": str(d)} for d in detail)
        else:
            for index, value in enumerate(detail):
                if value:
                    out.extend(flatten_validation_errors(value, [*path, index]))
    else:
        out.append({"pointer": _pointer(path), "detail": str(detail)})
    return out


_TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Authentication required", "unauthenticated"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    406: ("Not acceptable", "not-acceptable"),
    409: ("Conflict", "conflict"),
    413: ("Payload too large", "payload-too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    422: ("Unprocessable content", "unprocessable"),
    429: ("Too many requests", "throttled"),
}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as ``application/problem+json``."""
    if isinstance(exc, ProblemError):
        return problem_response(
            status_code=exc.status_code,
            title=exc.title,
            detail=str(exc.detail),
            type_=exc.problem_type,
            errors=exc.errors,
        )
    if isinstance(exc, RequestDataTooBig):
        return problem_response(
            status_code=413,
            title="Payload too large",
            detail="The request body is larger than the server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).",
            type_="payload-too-large",
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = response.status_code
    title, type_ = _TITLES.get(code, ("Error", "error"))
    if isinstance(exc, exceptions.ParseError):
        return problem_response(
            status_code=400, title="Malformed request body", detail=str(exc.detail), type_="malformed-body"
        )
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation_errors(exc.detail)
        return problem_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            title="Validation failed",
            detail=f"{len(errors)} field(s) failed validation",
            type_="validation",
            errors=errors,
        )
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    out = problem_response(status_code=code, title=title, detail=str(detail), type_=type_)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            out[header] = response[header]
    return out

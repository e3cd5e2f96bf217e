"""Error parsing: what the API answered becomes one ApiError naming the field (pure)."""

from typing import Any

import httpx

from lrlab_client import parse_error


def _response(status: int, body: Any) -> httpx.Response:
    request = httpx.Request("GET", "http://lrlab.test/x")
    if isinstance(body, str | bytes):
        return httpx.Response(status, content=body, request=request)
    return httpx.Response(status, json=body, request=request)


# -- error parsing (pure) ----------------------------------------------------------------------


def test_validation_error_names_the_field_without_body() -> None:
    error = parse_error(
        _response(
            422,
            {
                "detail": [
                    {
                        "type": "greater_than_equal",
                        "loc": ["body", "scheduler", "step", "step_size"],
                        "msg": "Input should be greater than or equal to 1",
                    }
                ]
            },
        )
    )
    assert error.status == 422
    assert error.field == "scheduler.step.step_size"
    assert error.message == "Input should be greater than or equal to 1"
    assert str(error) == "scheduler.step.step_size: Input should be greater than or equal to 1"


def test_several_validation_errors_make_one_line() -> None:
    error = parse_error(
        _response(
            422,
            {
                "detail": [
                    {"loc": ["body", "training", "epochs"], "msg": "too big", "type": "x"},
                    {"loc": ["query", "target"], "msg": "not a number", "type": "y"},
                    {"loc": ["body"], "msg": "Value error, broken", "type": "value_error"},
                ]
            },
        )
    )
    assert error.field == "training.epochs"
    assert [e.field for e in error.errors] == ["training.epochs", "target", None]
    assert str(error) == "training.epochs: too big; target: not a number; Value error, broken"
    assert "\n" not in str(error)


def test_string_detail_and_other_bodies() -> None:
    conflict = parse_error(_response(409, {"detail": "experiment x has already succeeded"}))
    assert (conflict.status, conflict.field) == (409, None)
    assert str(conflict) == "experiment x has already succeeded"
    assert conflict.is_user_error
    assert str(parse_error(_response(502, "Bad gateway\n<html>"))) == "Bad gateway"
    assert str(parse_error(_response(500, b""))) == "Internal Server Error"
    assert not parse_error(_response(503, {"detail": "database unavailable"})).is_user_error

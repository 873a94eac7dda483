"""Checks the sandbox's test doubles (DRS, EFS replication) against botocore's service models.

A double that answers with a field the model does not know, misses a required one, or uses a wrong type
or enum value would let drflow pass here and fail against AWS; `validating_client` asserts every raw
response (errors included) against the real model before botocore parses it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import botocore.session

from drflow.sandbox.server import SECRET, access_key_for


def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def shape_errors(shape: Any, value: Any, path: str = "$", quirks: frozenset[str] = frozenset()) -> list[str]:
    """Everything in `value` that botocore's `shape` does not allow (an empty list when it conforms).

    `quirks`: shape names whose length bounds the model itself gets wrong (not checked)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        errors = [f"{path}.{name}: required member missing" for name in shape.required_members if name not in value]
        for key, item in value.items():
            errors += ([f"{path}.{key}: not a member of {shape.name}"] if key not in shape.members
                       else shape_errors(shape.members[key], item, f"{path}.{key}", quirks))
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(value) for e in shape_errors(shape.member, item, f"{path}[{i}]", quirks)]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [e for k, v in value.items() for e in shape_errors(shape.key, k, f"{path}<key>", quirks)
                + shape_errors(shape.value, v, f"{path}[{k}]", quirks)]
    meta = shape.metadata
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {value!r}"]
        errors = [f"{path}: {value!r} not in enum {shape.name}"] if shape.enum and value not in shape.enum else []
        if shape.name not in quirks and not meta.get("min", 0) <= len(value) <= meta.get("max", 10 ** 9):
            errors.append(f"{path}: length {len(value)} outside {shape.name}'s bounds")
        # Python's re has no Unicode classes: \p{L}\p{Z}\p{N} (letters, separators, digits) ~ \w\s
        if "pattern" in meta and not re.fullmatch(meta["pattern"].replace(r"\p{L}\p{Z}\p{N}", r"\w\s"), value):
            errors.append(f"{path}: {value!r} does not match {shape.name}'s pattern")
        return errors
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: expected an integer, got {value!r}"]
        return [] if meta.get("min", -10 ** 30) <= value <= meta.get("max", 10 ** 30) else [f"{path}: out of range"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if kind in ("double", "float", "timestamp"):  # rest-json timestamps are epoch seconds
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok and value >= meta.get("min", -10 ** 30) else [f"{path}: not a valid number {value!r}"]
    return [f"{path}: unexpected shape type {kind}"]


def validating_client(service: str, region: str, seen: set[str] | None = None, account: str | None = None,
                      quirks: frozenset[str] = frozenset(), declared_errors: bool = True) -> Any:
    """A boto3 client of the sandbox that asserts every raw response (errors included) against the model.

    An error must be one the model defines, with its HTTP status, named in the `x-amzn-ErrorType` header
    and in the body the way the service does (`__type`, or EFS's `ErrorCode`). `declared_errors`: the error
    must also be among those the model lists for the operation (some models list too few)."""
    model = service_model(service)
    creds = {"aws_access_key_id": access_key_for(account), "aws_secret_access_key": SECRET} if account else {}
    client = boto3.client(service, region_name=region, **creds)

    def check(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        body = response_dict["body"]
        data = json.loads(body) if body else {}
        if response_dict["status_code"] >= 300:
            code = response_dict["headers"]["x-amzn-ErrorType"]
            named = data.pop("__type", None) or data.get("ErrorCode")
            assert named == code, (operation_model.name, named, code)
            assert not declared_errors or code in [e.name for e in operation_model.error_shapes], \
                (operation_model.name, code)
            shape = model.shape_for(code)
            assert shape.metadata["error"]["httpStatusCode"] == response_dict["status_code"]
        else:
            shape = operation_model.output_shape
            assert response_dict["status_code"] == operation_model.http.get("responseCode", 200)
        problems = shape_errors(shape, data, quirks=quirks) if shape is not None else \
            ([] if not data else ["body not empty"])
        assert not problems, (operation_model.name, problems)
        if seen is not None:
            seen.add(operation_model.name)

    client.meta.events.register(f"before-parse.{service}", check)
    return client

"""DRS errors, shaped the way botocore parses a rest-json error for the `drs` model.

botocore takes the code from `x-amzn-ErrorType` (or `__type`), the message from `message`, and copies
the error shape's other members (`quotaCode`, `resourceId`, ...) from the body into the exception's
response, so callers can branch on them exactly as they would against the real service.
"""

from __future__ import annotations

import json
from typing import Any


class DrsError(Exception):
    code = "InternalServerException"
    status = 500

    def __init__(self, message: str, **fields: Any):
        super().__init__(message)
        self.message = message
        self.fields = {k: v for k, v in fields.items() if v is not None}

    def response(self) -> tuple[int, dict[str, str], str]:
        body = {"__type": self.code, "message": self.message, "code": self.code, **self.fields}
        headers = {"x-amzn-ErrorType": self.code, "Content-Type": "application/json"}
        return self.status, headers, json.dumps(body)


class ValidationException(DrsError):
    code, status = "ValidationException", 400

    def __init__(self, message: str, reason: str = "other", fields: list[tuple[str, str]] | None = None):
        field_list = [{"name": n, "message": m} for n, m in fields] if fields else None
        super().__init__(message, reason=reason, fieldList=field_list)


class ResourceNotFoundException(DrsError):
    code, status = "ResourceNotFoundException", 404

    def __init__(self, resource_type: str, resource_id: str):
        super().__init__(f"{resource_type} {resource_id} not found", resourceId=resource_id,
                         resourceType=resource_type)


class ConflictException(DrsError):
    code, status = "ConflictException", 409

    def __init__(self, message: str, resource_type: str, resource_id: str):
        super().__init__(message, resourceId=resource_id, resourceType=resource_type)


class ServiceQuotaExceededException(DrsError):
    code, status = "ServiceQuotaExceededException", 402

    def __init__(self, message: str, quota_code: str, resource_type: str, resource_id: str | None = None):
        super().__init__(message, quotaCode=quota_code, serviceCode="drs", resourceType=resource_type,
                         resourceId=resource_id)


class NotImplementedByDouble(DrsError):
    """An operation of the DRS model that the double does not serve: loud, never a silent success."""

    code, status = "NotImplementedException", 501

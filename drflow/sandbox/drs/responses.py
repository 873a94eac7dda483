"""HTTP face of the DRS double: rest-json in, rest-json out, errors as botocore parses them.

moto's BaseResponse does the request plumbing (region from the host or the signature, account from
`x-moto-account-id` or the access key); the operation comes from the path, as in the DRS model.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import unquote

from botocore.session import get_session
from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores

from drflow.sandbox.drs.errors import DrsError, NotImplementedByDouble, ValidationException

OPERATIONS = ("InitializeService", "DescribeSourceServers", "GetLaunchConfiguration", "UpdateLaunchConfiguration",
              "DescribeRecoverySnapshots", "StartRecovery", "DescribeJobs", "DescribeJobLogItems",
              "DescribeRecoveryInstances", "TerminateRecoveryInstances", "StartFailbackLaunch",
              "ReverseReplication", "TagResource", "UntagResource", "ListTagsForResource")
TAG_OPERATIONS = {"GET": "ListTagsForResource", "POST": "TagResource", "DELETE": "UntagResource"}
_MODEL = get_session().get_service_model("drs")


class DrsResponse(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name="drs")

    @classmethod
    def dispatch(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return cls()._dispatch(*args, **kwargs)

    def _dispatch(self, request: Any, full_url: str | None = None, headers: Any = None) -> Any:
        self.setup_class(request, full_url, headers)
        from drflow.sandbox.drs.models import drs_backends

        path = self.parsed_url.path
        tags = re.match(r"^/tags/(.+)$", path)
        operation = TAG_OPERATIONS.get(self.method, "") if tags else path.strip("/")
        try:
            if operation not in OPERATIONS:
                raise NotImplementedByDouble(f"the sandbox DRS double does not implement {operation or path}")
            body = self._json_body()
            if tags:
                body["resourceArn"] = unquote(tags.group(1))
                if operation == "UntagResource":
                    body["tagKeys"] = self.querystring.get("tagKeys", [])
            backend = drs_backends[self.current_account][self.region]
            result = getattr(backend, camelcase_to_underscores(operation))(body)
        except DrsError as error:
            status, headers, content = error.response()
        else:
            status = _MODEL.operation_model(operation).http.get("responseCode", 200)
            headers = {"Content-Type": "application/json"}
            content = "" if status == 204 else json.dumps(result)
        return status, {**headers, "x-amzn-RequestId": str(uuid.uuid4())}, content

    def _json_body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            parsed = json.loads(self.body)
        except ValueError:
            raise ValidationException("request body is not JSON", "cannotParse") from None
        if not isinstance(parsed, dict):
            raise ValidationException("request body is not a JSON object", "cannotParse")
        return parsed

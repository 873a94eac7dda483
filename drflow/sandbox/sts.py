"""Test double: the sandbox's STS AssumeRole checks what AWS checks.

moto 5.2.5's AssumeRole hands out credentials for any ARN: the role need not exist and its trust policy is
never read, so a cross-account plan whose role is missing, trusts the wrong account or requires an external
id would pass every test here and fail on the first night against AWS. `install()` (the Sandbox calls it)
puts AWS's checks in front of moto's own AssumeRole:

- the role exists in the IAM of the account its ARN names;
- an Allow statement of its trust policy names the caller for sts:AssumeRole (Principal AWS: "*", the caller's
  account id, `arn:aws:iam::<account>:root`, the caller's ARN, or for a caller that is itself an assumed role,
  that role's ARN), and no Deny statement does;
- the statement's conditions hold. Understood: StringEquals / StringLike (and their IfExists forms) on
  sts:ExternalId, aws:PrincipalAccount and aws:PrincipalArn. A statement with any other condition grants
  nothing here (the sandbox cannot evaluate it, and a grant it cannot vouch for must not pass a test).

Otherwise the answer is AWS's: HTTP 403, code AccessDenied, "User: <caller> is not authorized to perform:
sts:AssumeRole on resource: <role arn>", whatever the reason (AWS does not say which check failed, nor
whether the role exists). The caller's own identity policies are not evaluated: the sandbox's access keys act
as account administrators.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse as STSResponse
from werkzeug.exceptions import HTTPException

ASSUME_ACTIONS = {"sts:assumerole", "sts:*", "*"}
CONDITION_KEYS = {"sts:externalid", "aws:principalaccount", "aws:principalarn"}


class AccessDenied(HTTPException):
    """STS's AccessDenied, as AWS's query protocol sends it (botocore parses it into a ClientError)."""

    code = 403

    def __init__(self, caller_arn: str, role_arn: str):
        super().__init__()
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>User: {caller_arn} is not authorized to perform: sts:AssumeRole "
            f"on resource: {role_arn}</Message></Error><RequestId>sandbox-sts</RequestId></ErrorResponse>")

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", "AccessDenied")]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _names_caller(statement: dict[str, Any], caller: set[str]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    names = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else []
    return bool(caller.intersection(names))


def _conditions_hold(statement: dict[str, Any], context: dict[str, str | None]) -> bool:
    for operator, tests in (statement.get("Condition") or {}).items():
        base = operator.removesuffix("IfExists")
        if base not in ("StringEquals", "StringLike"):
            return False
        for key, expected in tests.items():
            if key.lower() not in CONDITION_KEYS:
                return False
            given = context.get(key.lower())
            if given is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            match = (lambda pattern: given == pattern) if base == "StringEquals" else \
                (lambda pattern: fnmatch.fnmatchcase(given, pattern))
            if not any(match(str(e)) for e in _listed(expected)):
                return False
    return True


def trust_allows(policy: dict[str, Any], caller: set[str], context: dict[str, str | None]) -> bool:
    """Whether a trust policy lets a caller (its names: account id, root ARN, ARNs) assume the role."""
    applies = [s for s in _listed(policy.get("Statement", []))
               if any(a.lower() in ASSUME_ACTIONS for a in _listed(s.get("Action", [])))
               and _names_caller(s, caller) and _conditions_hold(s, context)]
    return any(s.get("Effect") == "Allow" for s in applies) and not any(s.get("Effect") == "Deny" for s in applies)


def _role(role_arn: str) -> Any | None:
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    backends = iam_backends.get(parts[4]) if parts[4] in iam_backends else None  # never create an account here
    if backends is None:
        return None
    try:
        return backends[parts[1]].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto's NotFound: AWS answers AccessDenied for a missing role too
        return None


def _assume_role(original: Any) -> Any:
    def assume_role(self: STSResponse) -> Any:
        role_arn = self._get_param("RoleArn") or ""
        _, caller_arn, account = self.backend.get_caller_identity(self.get_access_key(), self.region)
        caller = {"*", account, f"arn:aws:iam::{account}:root", caller_arn}
        assumed = self.backend.get_assumed_role_from_access_key(self.get_access_key())
        if assumed is not None:  # a role session is named in trust policies by its role's ARN
            caller.add(assumed.role_arn)
        role = _role(role_arn)
        context = {"sts:externalid": self._get_param("ExternalId"), "aws:principalaccount": account,
                   "aws:principalarn": assumed.role_arn if assumed is not None else caller_arn}
        if role is None or not trust_allows(_document(role.assume_role_policy_document), caller, context):
            raise AccessDenied(caller_arn, role_arn)
        return original(self)

    assume_role.sandbox_checked = True  # type: ignore[attr-defined]
    return assume_role


def _document(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))  # CloudFormation-style URL-encoded documents


def install() -> None:
    if not getattr(STSResponse.assume_role, "sandbox_checked", False):
        STSResponse.assume_role = _assume_role(STSResponse.assume_role)

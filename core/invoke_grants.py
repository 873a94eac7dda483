"""A service's permission to invoke a recovered Lambda function (a topic's subscription, a rule's target).

The function handler recreates a function without its resource policy: the statements there name the primary's
topics, rules and buckets, and each is the business of the resource that invokes. So the invoker's handler, once
its recovered self exists, adds the one statement it needs to the recovered function (Lambda's AddPermission:
"Grants a principal permission to use a function"), under a statement id derived from what it grants, so that a
re-run finds it (GetPolicy) instead of failing on ResourceConflictException.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from core.aws import error_code

STATEMENT_PREFIX = "drflow-"


def statement_id(principal: str, source_arn: str) -> str:
    """Stable per (principal, invoker): StatementId allows ([a-zA-Z0-9-_]+), at most 100 characters."""
    digest = hashlib.sha256(f"{principal} {source_arn}".encode()).hexdigest()[:20]
    return f"{STATEMENT_PREFIX}{principal.split('.', 1)[0]}-{digest}"


def _statements(lam: Any, function: str) -> dict[str, Any]:
    try:
        policy = lam.get_policy(FunctionName=function)["Policy"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":  # no policy yet (or no function: AddPermission says)
            return {}
        raise
    return {s.get("Sid"): s for s in json.loads(policy).get("Statement", [])}


def allow_invoke(lam: Any, function_arn: str, principal: str, source_arn: str) -> bool:
    """Let `principal` (a service, "sns.amazonaws.com") invoke the function on behalf of `source_arn` only (the
    recovered topic or rule). True when it wrote the statement, False when it was there already."""
    sid = statement_id(principal, source_arn)
    if sid in _statements(lam, function_arn):
        return False
    try:
        lam.add_permission(FunctionName=function_arn, StatementId=sid, Action="lambda:InvokeFunction",
                           Principal=principal, SourceArn=source_arn)
    except ClientError as exc:
        if error_code(exc) != "ResourceConflictException":  # a concurrent run added the same statement
            raise
        return False
    return True

"""Whether a recovered queue's or topic's policy lets a recovered rule deliver to it.

EventBridge delivers to a queue or a topic under that resource's own policy: the queue or topic must allow the
service principal events.amazonaws.com to sqs:SendMessage / sns:Publish, usually only from the rule's ARN
(aws:SourceArn) (EventBridge User Guide, "Using resource-based policies for Amazon EventBridge": Amazon SQS and
Amazon SNS permissions). Those policies are the SQS and SNS handlers' to recover (translated from the source's), and a
rule that rewrote them would fight their drift repair; so the rule only reads the recovered policy and says when it
does not let the rule deliver (a source that never allowed it, a drill's rule whose suffixed ARN the translated
policy cannot name).

A small reading of the policy, not IAM's evaluator: an Allow statement for the principal (or "*"), an action that
matches, and any aws:SourceArn condition matching the rule's ARN (wildcards as ArnLike has them). Deny statements
and other conditions are not weighed; the warning says "does not appear to".
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from botocore.exceptions import ClientError

from core.aws import Side, error_code

PRINCIPAL = "events.amazonaws.com"
ACTIONS = {"sqs:queue": "sqs:SendMessage", "sns:topic": "sns:Publish"}


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, dict)) else list(value or [])


def _policy(recovery: Side, kind: str, arn: str) -> dict[str, Any] | None:
    try:
        if kind == "sqs:queue":
            sqs = recovery.client("sqs")
            account, name = arn.split(":")[4], arn.rsplit(":", 1)[-1]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            text = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
        else:
            text = recovery.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy")
    except ClientError as exc:
        if "NotFound" in error_code(exc) or "NonExistent" in error_code(exc):
            return None
        raise
    return json.loads(text) if text else None


def _principal(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and (PRINCIPAL in _listed(principal.get("Service")) or
                                            "*" in _listed(principal.get("AWS")))


def _source_arns(statement: dict[str, Any]) -> list[str] | None:
    """The aws:SourceArn values the statement's conditions allow, None when none limits it."""
    found = None
    for values in (statement.get("Condition") or {}).values():
        for key, value in values.items():
            if key.lower() == "aws:sourcearn":
                found = (found or []) + _listed(value)
    return found


def allows(policy: dict[str, Any] | None, action: str, rule_arn: str) -> bool:
    for statement in _listed((policy or {}).get("Statement")):
        if statement.get("Effect") != "Allow" or not _principal(statement):
            continue
        if not any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action"))):
            continue
        arns = _source_arns(statement)
        if arns is None or any(fnmatchcase(rule_arn, a) for a in arns):
            return True
    return False


def delivery_warning(recovery: Side, target_arn: str, kind: str, rule_arn: str) -> str | None:
    """Why the recovered rule may not deliver to the recovered queue or topic, or None (a function's grant is the
    rule's own to add: core/invoke_grants.py)."""
    action = ACTIONS.get(kind)
    if action is None:
        return None
    if allows(_policy(recovery, kind, target_arn), action, rule_arn):
        return None
    return (f"the policy of {target_arn} does not appear to let {PRINCIPAL} {action} from {rule_arn}: events "
            "matched by the rule would not be delivered (allow it in the source's policy, which drflow translates)")

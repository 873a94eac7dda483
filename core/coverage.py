"""What the plan's scope holds that drflow does not protect: never silently ignored.

The Resource Groups Tagging API lists every tagged resource of the source region that carries the scope's
tags, whatever its service. Each handler names the kinds of ARN it protects (`arn_kinds`); a tagged resource
of any other kind (a queue, a table, a state machine) is reported as not protected, in the replication report
and in the recovery point, so that the runbook can say what must be recovered by hand.
"""

from __future__ import annotations

from typing import Any, Iterable


def arn_kind(arn: str) -> str:
    """"<service>:<resource type>" of an ARN, as the Tagging API's ResourceTypeFilters name it: `ec2:instance`,
    `rds:db`, `elasticloadbalancing:loadbalancer`; only the service where the ARN has no type (`s3`, `sqs`)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    service, resource = parts[2], parts[5]
    if resource.startswith("/"):  # API Gateway's paths: arn:aws:apigateway:us-east-1::/restapis/a1b2c3
        return f"{service}:{resource[1:].split('/', 1)[0]}"
    cut = min((i for i in (resource.find("/"), resource.find(":")) if i >= 0), default=-1)
    return f"{service}:{resource[:cut]}" if cut > 0 else service


def arn_name(arn: str) -> str:
    """The ARN's resource without its type: a queue's or table's name, a function's, an instance id, a log
    group's path."""
    resource = arn.split(":", 5)[-1]
    kind = arn_kind(arn)
    if resource.startswith("/"):  # /apis/a1b2c3, /domainnames/api.example.com
        return resource[1:].partition("/")[2]
    if ":" in kind:
        resource = resource[len(kind.split(":", 1)[1]) + 1:]
    return resource.removesuffix(":*")


def not_protected(tagged_arns: Iterable[str], handled_kinds: Iterable[str]) -> list[dict[str, Any]]:
    """The tagged resources whose kind no handler protects, sorted by kind and ARN."""
    handled = set(handled_kinds)
    found = {arn for arn in tagged_arns if arn_kind(arn) not in handled}
    return [{"kind": arn_kind(arn), "name": arn_name(arn), "arn": arn}
            for arn in sorted(found, key=lambda a: (arn_kind(a), a))]

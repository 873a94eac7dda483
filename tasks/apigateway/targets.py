"""What an API's integrations and authorizers name, and what they become on the recovery side: shared by HTTP
APIs and REST APIs (one package, so no import crosses services).

A Lambda proxy integration (and a Lambda authorizer) names its function either by its ARN (HTTP APIs accept it)
or inside an API Gateway service URI, `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function
ARN>/invocations`; the function is a dependency (link `lambda:function:<name>`), so that its recovered ARN (a
drill's suffixed copy) replaces it, the qualifier (an alias, a version) kept, and the URI's own region becomes the
recovery region. An SQS integration names its queue by URL in its request parameters (link `sqs:<name>`: the
queue's recovered URL comes through the translation's endpoints). A role the integration assumes is linked too
(`iam:role:<name>`), so that a recovery account's copy is named.
"""

from __future__ import annotations

import re
from typing import Any

from core.handler import ApplyContext
from core.policy import translate

FUNCTION_RE = re.compile(r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
                         r"function:(?P<name>[A-Za-z0-9_-]+)(?::(?P<qualifier>[A-Za-z0-9$_-]+))?")
QUEUE_URL_RE = re.compile(r"^https://(?:sqs\.)?[a-z0-9.-]*amazonaws\.com(?:\.cn)?/[0-9]{12}/(?P<name>[A-Za-z0-9_.-]+)$")
ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:.*/)?(?P<name>[A-Za-z0-9+=,.@_-]+)$")
INVOKER = "apigateway.amazonaws.com"


class Deferred(Exception):
    """What this names is made at failover only (a function): left out tonight, put by the failover."""


def pages(call: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of an apigatewayv2 listing botocore has no paginator for (GetApiMappings, GetVpcLinks): their
    NextToken followed."""
    items, token = [], None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page.get("Items", [])
        token = page.get("NextToken")
        if not token:
            return items


def function_name(uri: str | None) -> str | None:
    match = FUNCTION_RE.search(uri or "")
    return match["name"] if match else None


def links_of(uri: str | None, credentials: str | None = None, parameters: dict[str, str] | None = None) -> list[str]:
    """The links an integration or authorizer declares: its function, its queue, the role it assumes."""
    out = []
    name = function_name(uri)
    if name:
        out.append(f"lambda:function:{name}")
    queue = QUEUE_URL_RE.match((parameters or {}).get("QueueUrl", ""))
    if queue:
        out.append(f"sqs:{queue['name']}")
    role = ROLE_RE.match(credentials or "")
    if role and role["name"] != "*":
        out.append(f"iam:role:{role['name']}")
    return out


def recovered_uri(uri: str, ctx: ApplyContext) -> tuple[str, str | None]:
    """(the URI for the recovery side, the recovered function it invokes or None); Deferred when the function is
    not made yet (nightly staging: functions are created at failover only)."""
    match = FUNCTION_RE.search(uri)
    if match is None:
        return uri, None
    try:
        recovered = ctx.linked(f"lambda:function:{match['name']}").recovered_id
    except KeyError:
        recovered = None
    if not recovered:
        raise Deferred(f"function {match['name']} is made at failover")
    function = recovered + (f":{match['qualifier']}" if match["qualifier"] else "")
    if uri == match.group(0):
        return function, function
    return (f"arn:{match['partition']}:apigateway:{ctx.recovery.region}:lambda:path/2015-03-31/functions/"
            f"{function}/invocations"), function


def translated(document: Any, t: Any, where: str, warnings: list[str]) -> Any:
    done = translate(document, t)
    warnings += [f"{where}: {w}" for w in done.warnings]
    return done.document


def comparable(have: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when what the recovery side has carries every wanted value (it may answer more: defaults)."""
    return all(_same(have.get(k), v) for k, v in wanted.items())


def _same(have: Any, wanted: Any) -> bool:
    if isinstance(wanted, list) and isinstance(have, list):
        return sorted(map(str, have)) == sorted(map(str, wanted))
    return have == wanted or (have in (None, "", {}, []) and wanted in (None, "", {}, []))

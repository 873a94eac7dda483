"""Where the sandbox's moto Route 53 is kinder than AWS in a way drflow meets: change propagation and caller
references.

- moto 5.2.5 answers ChangeResourceRecordSets with `Status: INSYNC`: the change is everywhere at once. AWS answers
  `PENDING` ("PENDING indicates that this request has not yet been applied to all Amazon Route 53 DNS servers":
  botocore's route53 model, ChangeInfo.Status; Amazon Route 53 API Reference, ChangeResourceRecordSets: "the
  initial status is PENDING ... GetChange returns INSYNC when the change has propagated to all Route 53 DNS
  servers"). Here the change answers PENDING, and GetChange (asked after it) INSYNC: a caller that does not wait
  (botocore's `resource_record_sets_changed` waiter) is as wrong here as on AWS. Each change gets an id of its own.
- moto creates a second hosted zone with a CallerReference already used. AWS refuses it ("HostedZoneAlreadyExists:
  The hosted zone you're trying to create already exists. Amazon Route 53 returns this error when a hosted zone has
  already been created with the specified CallerReference": API Reference, CreateHostedZone, Errors).

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from moto.route53.exceptions import Route53ClientError
from moto.route53.models import Route53Backend
from moto.route53.responses import Route53 as Route53Response

_installed = False


class HostedZoneAlreadyExists(Route53ClientError):
    def __init__(self, caller_reference: str) -> None:
        super().__init__("HostedZoneAlreadyExists", "The hosted zone you're trying to create already exists. "
                         f"Amazon Route 53 returns this error when a hosted zone has already been created with the "
                         f"specified CallerReference ({caller_reference}).")


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    change = Route53Response.change_resource_record_sets
    create = Route53Backend.create_hosted_zone

    def change_resource_record_sets(self: Any) -> Any:
        answer = change(self)
        info = answer.result["ChangeInfo"]
        info.update(Id=f"/change/C{uuid.uuid4().hex[:12].upper()}", Status="PENDING")
        return answer

    def create_hosted_zone(self: Any, name: str, private_zone: bool, caller_reference: str | None = None,
                           *args: Any, **kwargs: Any) -> Any:
        if caller_reference and any(z.caller_reference == caller_reference for z in self.zones.values()):
            raise HostedZoneAlreadyExists(caller_reference)
        return create(self, name, private_zone, caller_reference, *args, **kwargs)

    Route53Response.change_resource_record_sets = change_resource_record_sets  # type: ignore[method-assign]
    Route53Backend.create_hosted_zone = create_hosted_zone  # type: ignore[method-assign]


_ROUTES: list[tuple[str, "re.Pattern[str]", str]] | None = None


def operation_name(method: str, path: str) -> str | None:
    """The Route 53 operation a REST-XML request is (`POST /2013-04-01/hostedzone/Z1/rrset` ->
    ChangeResourceRecordSets), from botocore's model of the service (each operation's method and requestUri), so
    that the sandbox's request log names Route 53 calls as it names the others; None for a path the model lacks."""
    global _ROUTES
    if _ROUTES is None:
        import botocore.session

        model = botocore.session.get_session().get_service_model("route53")
        routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri = http["requestUri"].split("?")[0]
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(uri.rstrip("/")))
            routes.append((http["method"], re.compile(f"^{pattern}/?$"), name))
        # a literal path segment wins over a parameter (GET /hostedzonesbyname before GET /hostedzone/{Id})
        _ROUTES = sorted(routes, key=lambda r: r[1].pattern.count("[^/]+"))
    wanted = path.split("?")[0].rstrip("/")
    return next((name for m, pattern, name in _ROUTES if m == method and pattern.match(wanted)), None)

"""Where the sandbox's moto ACM is kinder than AWS in a way drflow meets: DNS validation.

moto 5.2.5 issues every requested certificate 60 seconds after the request (`CertBundle.check`,
MOTO_ACM_VALIDATION_WAIT), whatever DNS holds, and hands every domain of every account the same validation
record, readable at once. AWS does none of that. A certificate requested with DNS validation stays
PENDING_VALIDATION until the CNAME record ACM gives for each of its names resolves, and is ISSUED then (ACM User
Guide, "AWS Certificate Manager DNS validation"; CertificateDetail.Status in botocore's acm model: "A certificate
enters status PENDING_VALIDATION upon being requested ... ACM makes repeated attempts to validate a certificate for
72 hours and then times out"). The record is ACM's for that domain in that account, the same for every certificate
of the name the account requests (the same user guide page), so a certificate requested again in another region is
validated by the record already in place; a wildcard name's record is its base name's. `IssuedAt` appears once a
certificate is issued (CertificateDetail.IssuedAt). And a certificate just requested is not all there at once:
"there is a delay of several seconds before you can retrieve information about it" (ACM API Reference,
DescribeCertificate): here its first description lacks the validation records.

Here a requested certificate is ISSUED when, for each of its names, a public Route 53 hosted zone of the same
account that is the most specific one for the record's name holds the CNAME with ACM's value: what "the record
resolves" means in a sandbox without registrars. The record's name and value derive from the account and the
domain. (Not modelled: the 72-hour timeout, email validation, renewal.)

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from moto.acm.models import AWSCertificateManagerBackend, CertBundle
from moto.core.utils import utcnow
from moto.route53.models import route53_backends

PENDING, ISSUED = "PENDING_VALIDATION", "ISSUED"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def _base(domain: str) -> str:
    return domain[2:] if domain.startswith("*.") else domain


def validation_record(account_id: str, domain: str) -> dict[str, str]:
    """The CNAME ACM asks for to validate `domain` in this account (the same for each certificate of that name)."""
    base = _base(domain).lower().rstrip(".")
    return {"Name": f"_{_digest(account_id, base)}.{base}.", "Type": "CNAME",
            "Value": f"_{_digest(base, account_id, 'value')}.xlfgrmvvlj.acm-validations.aws."}


def _dotted(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _resolves(account_id: str, record: dict[str, str]) -> bool:
    """The record is in the most specific public hosted zone of the account for its name (Route 53 is global)."""
    name = _dotted(record["Name"])
    zones = [z for z in route53_backends[account_id]["aws"].zones.values()
             if not z.private_zone and (name == _dotted(z.name) or name.endswith("." + _dotted(z.name)))]
    if not zones:
        return False
    deepest = max(len(_dotted(z.name)) for z in zones)
    return any(_dotted(r.name) == name and r.type == "CNAME"
               and [_dotted(v) for v in r.records] == [_dotted(record["Value"])]
               for z in zones if len(_dotted(z.name)) == deepest for r in z.rrsets)


def _names(bundle: CertBundle) -> list[str]:
    return sorted(set(bundle.sans + ([bundle.common_name] if bundle.common_name else [])))


def _account(bundle: CertBundle) -> str:
    return bundle.arn.split(":")[4]


def install() -> None:
    if getattr(CertBundle, "_drflow_dns_validation", False):  # once per process: the sandbox may start again
        return
    CertBundle._drflow_dns_validation = True  # type: ignore[attr-defined]
    describe, request = CertBundle.describe, AWSCertificateManagerBackend.request_certificate
    described = AWSCertificateManagerBackend.describe_certificate

    def _request(self: AWSCertificateManagerBackend, *args: Any, **kwargs: Any) -> str:
        arn = request(self, *args, **kwargs)
        bundle = self._certificates[arn]
        if not hasattr(bundle, "_drflow_described"):  # a new one (an idempotent repeat answers the first's ARN)
            bundle._drflow_described = False
        return arn

    def _describe_certificate(self: AWSCertificateManagerBackend, arn: str) -> CertBundle:
        bundle = described(self, arn)
        # its first DescribeCertificate (a listing shows no validation records anyway) lacks the records
        bundle._drflow_hide_records = getattr(bundle, "_drflow_described", True) is False
        bundle._drflow_described = True
        return bundle

    def _check(self: CertBundle) -> None:
        if self._not_valid_after(self._cert) <= utcnow():
            self.status = "EXPIRED"
            return
        if self.type == "AMAZON_ISSUED" and self.status == PENDING and all(
                _resolves(_account(self), validation_record(_account(self), n)) for n in _names(self)):
            self.status = ISSUED

    def _describe(self: CertBundle) -> dict[str, Any]:
        result = describe(self)
        detail = result["Certificate"]
        hide, self._drflow_hide_records = getattr(self, "_drflow_hide_records", False), False
        for option in detail.get("DomainValidationOptions", []):
            if hide:  # ACM is still writing the records down
                option.pop("ResourceRecord", None)
            else:
                option["ResourceRecord"] = validation_record(_account(self), option["DomainName"])
        if self.status != ISSUED:
            detail.pop("IssuedAt", None)
        return result

    CertBundle.check = _check  # type: ignore[method-assign]
    CertBundle.describe = _describe  # type: ignore[method-assign]
    AWSCertificateManagerBackend.request_certificate = _request  # type: ignore[method-assign]
    AWSCertificateManagerBackend.describe_certificate = _describe_certificate  # type: ignore[method-assign]

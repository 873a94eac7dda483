"""ACM certificates: the certificate a recovered HTTPS listener, API domain or distribution presents, requested in
the recovery region ahead of time, so that a failover finds it issued.

ACM certificates are regional and cannot be copied between regions (ACM User Guide, "Supported Regions": "you must
request or import a certificate for each region ... revalidate each domain name"). A public certificate ACM issues
costs nothing, so it is staged nightly (pilot light): the same domain name and alternative names, DNS validation,
drflow's claim as tags in the request itself (a killed apply leaves either nothing or a tagged certificate that the
re-run finds). ACM validates a name by a CNAME record that is the same for every certificate of that name in the
account, so the record the primary's certificate was validated with usually validates the copy as well; where a
public hosted zone for the name is reachable from the recovery side, the record is UPSERTed there (and listed in
the run's DNS changes), otherwise it is listed for a human. The recovered id is the recovery certificate's ARN: a
service module reaches it through its link (core/certificates.py), never by importing this one.

An imported certificate (or a private CA's) cannot be issued again by ACM: pre-flight refuses it, naming it, unless
the plan's `certificates` maps it to one imported in the recovery region. A mapped certificate is the plan's to
keep: nothing is requested for it.

A drill uses production's recovery certificate: a certificate serves nobody by itself (it is not internet-facing),
and a drill's own copy would need validation again, through a public zone a drill must leave untouched. So a drill
writes nothing here and has nothing to clean up. Failback changes nothing either: the primary's certificate was
never touched.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from botocore.exceptions import ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, ConsoleLink, NotFailedBack, Preflight
from core.certificates import CERTIFICATE
from core.handler import Applied, ApplyContext, Unrecoverable
from core.models import Phase, Resource
from core.ownership import TAG_DRILL, copy_of, tag_dict
from core.plan import Plan
from core.report import TRAFFIC_CHANGES

# ListCertificates "Default filtering returns only RSA_2048 certificates" (botocore's acm model): every key type
KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"]
REQUESTABLE_KEYS = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")  # RequestCertificate's KeyAlgorithm
ISSUED, AMAZON_ISSUED = "ISSUED", "AMAZON_ISSUED"
# a copy ACM will never issue (validation timed out after 72 hours, failed) or no longer serves: requested again
DEAD = ("VALIDATION_TIMED_OUT", "FAILED", "EXPIRED", "REVOKED", "INACTIVE")
NOT_FOUND = ("ResourceNotFoundException",)
VALIDATION_TTL = 300
# DescribeCertificate: "If you have just created a certificate using the RequestCertificate action, there is a delay
# of several seconds before you can retrieve information about it" (its validation records among it)
RECORDS_WAITER = WaiterModel({"version": 2, "waiters": {"ValidationRecords": {
    "operation": "DescribeCertificate", "delay": 1, "maxAttempts": 30, "acceptors": [
        {"matcher": "path", "state": "success", "expected": True, "argument":
            "length(Certificate.DomainValidationOptions[?ResourceRecord]) == "
            "length(Certificate.DomainValidationOptions) && length(Certificate.DomainValidationOptions) > `0`"},
        {"matcher": "error", "state": "failure", "expected": "ResourceNotFoundException"}]}}})
# at failover, how long a certificate whose validation records are in place is waited for (ACM validates a record
# it finds within minutes; the nightly run that requested it waits for nothing)
VALIDATED_WAIT = {"Delay": 15, "MaxAttempts": 20}
BY_HAND = "to apply by hand"


def records_waiter(acm: Any) -> Any:
    """Waits until a just-requested certificate's DNS validation records can be read (botocore waiter)."""
    return create_waiter_with_client("ValidationRecords", RECORDS_WAITER, acm)


def _token(resource: Resource, ctx: ApplyContext) -> str:
    """RequestCertificate's IdempotencyToken (\\w{1,32}): a request repeated within the hour (a lost answer, a
    retried task) gives the certificate the first one made."""
    return hashlib.sha256(f"{ctx.plan.name}/{resource.source_id}".encode()).hexdigest()[:32]


def _dotted(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _production_copy(tags: Any, resource: Resource, ctx: ApplyContext) -> bool:
    """This plan's recovery certificate for `resource`, as nightly staging and a failover make it (no drill tag):
    the one a drill uses too."""
    return copy_of(tags, resource, ctx) and TAG_DRILL not in tag_dict(tags)


def _refusal(resource: Resource, region: str) -> str:
    cfg = resource.config
    what = "imported into ACM" if cfg["kind"] == "IMPORTED" else f"a {cfg['kind'].lower()} certificate"
    return (f"certificate {resource.source_id} ({cfg['domain_name']}) is {what}: ACM cannot issue it again in "
            f"{region}; import it (or another certificate for {cfg['domain_name']}) into ACM in {region} and map it "
            f"in the plan's `certificates` ({resource.source_id}: <its ARN in {region}>)")


class CertificateHandler(ClaimsArnKinds, Preflight, ConsoleLink, NotFailedBack):
    type: ClassVar[str] = CERTIFICATE
    phase: ClassVar[Phase] = Phase.LOAD_BALANCERS  # what listeners present; staged long before
    pilot_light: ClassVar[bool] = True  # a public ACM certificate costs nothing
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    arn_kinds: ClassVar[tuple[str, ...]] = ("acm:certificate",)
    not_failed_back: ClassVar[str] = ("the primary's certificate was never changed; the recovery region's copy "
                                      "stays (it costs nothing) for the next failover")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        acm = source.client("acm")
        out = []
        for summary in paginate(acm, "list_certificates", "CertificateSummaryList", Includes={"keyTypes": KEY_TYPES}):
            arn = summary["CertificateArn"]
            try:
                detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
                tags = acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            domain = detail["DomainName"]
            methods = sorted({o.get("ValidationMethod") for o in detail.get("DomainValidationOptions", [])} - {None})
            out.append(Resource(
                type=CERTIFICATE, source_id=arn, arn=arn, name=domain, tags=tag_dict(tags),
                config={"domain_name": domain,
                        "alternative_names": sorted(set(detail.get("SubjectAlternativeNames", [])) - {domain}),
                        "kind": detail.get("Type", AMAZON_ISSUED), "key_algorithm": detail.get("KeyAlgorithm"),
                        "validation_methods": methods, "transparency_logging": (detail.get("Options") or {}).get(
                            "CertificateTransparencyLoggingPreference")}))
        return out

    # ---- pre-flight (read-only) ------------------------------------------------------------------------

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """An imported or private certificate that the plan does not map is refused, nightly and at failover. At
        failover (and in a drill) also a certificate whose recovery copy is not issued and cannot be validated from
        the recovery side (no reachable public zone for a name): the listener that needs it would fail."""
        region = ctx.recovery.region
        problems = []
        unmapped = [r for r in resources if r.source_id not in ctx.plan.certificates]
        for r in unmapped:
            if r.config["kind"] != AMAZON_ISSUED:
                problems.append(("certificates", _refusal(r, region)))
        if ctx.staging:
            return problems
        acm = ctx.recovery.client("acm")
        for r in unmapped:
            if r.config["kind"] != AMAZON_ISSUED:
                continue
            arn = self.find(r, ctx)
            detail = self._describe(acm, arn) if arn else None
            if detail and detail.get("Status") == ISSUED:
                continue
            state = f"is {detail['Status']} there" if detail else "was never requested there"
            names = [r.config["domain_name"], *r.config["alternative_names"]]
            lost = [n for n in names if self._zone(ctx, n) is None]
            if ctx.drill_id:
                why = "a drill uses production's copy and validates nothing (public zones stay untouched)"
            elif lost:
                why = (f"no public hosted zone for {', '.join(lost)} is reachable in account "
                       f"{ctx.plan.recovery.account_id} to validate it")
            else:
                continue  # the failover UPSERTs the validation records and waits for ACM
            problems.append(("certificates", (
                f"certificate {r.source_id} ({r.config['domain_name']}): its copy in {region} {state}, and {why}; "
                "add ACM's validation records to the domain's DNS (the nightly run's report lists them) or map a "
                "certificate in the plan's `certificates`")))
        return problems

    # ---- the recovery certificate ----------------------------------------------------------------------

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """Production's recovery certificate for this source certificate (by drflow's tags), whichever run asks:
        a drill uses it too. Several (a request repeated after the idempotency token's hour): an issued one first;
        one ACM will never issue (DEAD) is not found, so that apply requests another (the dead one is left: it
        costs nothing, and the recovery policy grants no DeleteCertificate)."""
        acm = ctx.recovery.client("acm")
        tags = ctx.shared.once("acm-tags", dict)  # ARN -> tags: drflow's are set in the request and stay
        mine = []
        for summary in paginate(acm, "list_certificates", "CertificateSummaryList", Includes={"keyTypes": KEY_TYPES}):
            arn = summary["CertificateArn"]
            if arn not in tags:
                try:
                    tags[arn] = tag_dict(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", []))
                except ClientError as exc:
                    if error_code(exc) in NOT_FOUND:
                        continue
                    raise
            if _production_copy(tags[arn], resource, ctx) and summary.get("Status") not in DEAD:
                mine.append((summary.get("Status") != ISSUED, arn))
        return min(mine)[1] if mine else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        cfg, region = resource.config, ctx.recovery.region
        if resource.source_id in ctx.plan.certificates:
            return Applied(ctx.plan.certificates[resource.source_id], skipped="mapped in the plan's certificates")
        if cfg["kind"] != AMAZON_ISSUED:
            raise Unrecoverable(_refusal(resource, region))
        acm = ctx.recovery.client("acm")
        arn, created, changed = self.find(resource, ctx), False, False
        if arn is None and ctx.drill_id:
            raise Unrecoverable(f"certificate {resource.source_id} ({cfg['domain_name']}) has no recovery copy in "
                                f"{region}: a drill uses the one nightly replication requests (see its report)")
        if arn is None:
            arn = acm.request_certificate(**self._request(resource, ctx))["CertificateArn"]
            created = True
        elif not ctx.drill_id:  # a drill writes nothing on production's copy
            changed = self._retag(acm, arn, resource, ctx)
        records_waiter(acm).wait(CertificateArn=arn)
        detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        changes, warnings = [], []
        if detail.get("Status") != ISSUED:
            changes = self._validate(detail, resource, ctx)
            changed |= any(c["status"] == "made" for c in changes)
            detail = self._await_validation(acm, detail, changes, ctx)
        if detail.get("Status") != ISSUED:
            warnings.append(f"certificate for {cfg['domain_name']} is {detail.get('Status')} in {region}: ACM "
                            "issues it once its validation records resolve (see the DNS changes)")
        return Applied(arn, created=created, changed=changed, warnings=warnings, details={
            "domain_name": cfg["domain_name"], "status": detail.get("Status"), TRAFFIC_CHANGES: changes,
            **({"validated_by": "DNS (the source used email)"} if "EMAIL" in cfg["validation_methods"] else {})})

    @staticmethod
    def _request(resource: Resource, ctx: ApplyContext) -> dict[str, Any]:
        cfg = resource.config
        kwargs: dict[str, Any] = {"DomainName": cfg["domain_name"], "ValidationMethod": "DNS",
                                  "IdempotencyToken": _token(resource, ctx), "Tags": ctx.tag_list(resource)}
        if cfg["alternative_names"]:
            kwargs["SubjectAlternativeNames"] = [cfg["domain_name"], *cfg["alternative_names"]]
        if cfg.get("key_algorithm") in REQUESTABLE_KEYS:
            kwargs["KeyAlgorithm"] = cfg["key_algorithm"]
        if cfg.get("transparency_logging"):
            kwargs["Options"] = {"CertificateTransparencyLoggingPreference": cfg["transparency_logging"]}
        return kwargs

    @staticmethod
    def _retag(acm: Any, arn: str, resource: Resource, ctx: ApplyContext) -> bool:
        """The source certificate's tags as they are now (drflow's claim among them); a removed one stays."""
        have = ctx.shared.once("acm-tags", dict).get(arn) or {}
        drift = {k: v for k, v in ctx.tags(resource).items() if have.get(k) != v}
        if drift:
            acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(
                drift.items())])
            have.update(drift)
        return bool(drift)

    def _validate(self, detail: dict[str, Any], resource: Resource, ctx: ApplyContext) -> list[dict[str, Any]]:
        """Each validation record not yet in DNS: UPSERTed into the public zone for its name where the recovery
        account has one (never in a drill, which leaves public zones alone), else listed for a human."""
        records = {_dotted(o["ResourceRecord"]["Name"]): (o["DomainName"], o["ResourceRecord"])
                   for o in detail.get("DomainValidationOptions", [])
                   if o.get("ResourceRecord") and o.get("ValidationStatus") != "SUCCESS"}
        route53 = ctx.recovery.client("route53")
        changes = []
        for name, (domain, record) in sorted(records.items()):
            batch = {"Comment": f"drflow plan {ctx.plan.name}: ACM DNS validation of {domain}", "Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": record["Type"], "TTL": VALIDATION_TTL,
                                                           "ResourceRecords": [{"Value": record["Value"]}]}}]}
            change = {"where": f"DNS of {domain}", "what": f"{record['Type']} {name}", "from": None,
                      "to": record["Value"], "change_batch": batch}
            zone = self._zone(ctx, domain)
            if zone is None:
                changes.append({**change, "status": f"{BY_HAND} (no public hosted zone for {domain} in account "
                                                    f"{ctx.plan.recovery.account_id})"})
                continue
            change.update(where=f"{zone['Name']} ({zone['Id']})", zone_id=zone["Id"])
            if _in_zone(route53, zone["Id"], name, record):
                continue
            if ctx.drill_id:
                changes.append({**change, "status": f"{BY_HAND} (a drill leaves public zones unchanged)"})
                continue
            route53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch=batch)
            changes.append({**change, "status": "made"})
        return changes

    @staticmethod
    def _zone(ctx: ApplyContext, domain: str) -> dict[str, str] | None:
        """The public hosted zone of the recovery account that holds `domain`'s records: the most specific zone
        whose name ends it (one per run and name; None when none, or when several of one name leave the
        delegated one unknown)."""
        def lookup() -> dict[str, str] | None:
            route53 = ctx.recovery.client("route53")
            labels = _dotted(domain.removeprefix("*.")).split(".")[:-1]
            for i in range(len(labels) - 1):
                candidate = ".".join(labels[i:]) + "."
                zones = [z for z in route53.list_hosted_zones_by_name(DNSName=candidate, MaxItems="100")["HostedZones"]
                         if _dotted(z["Name"]) == candidate and not z.get("Config", {}).get("PrivateZone")]
                if zones:
                    return {"Id": zones[0]["Id"].rsplit("/", 1)[-1], "Name": candidate} if len(zones) == 1 else None
            return None
        return ctx.shared.once(f"acm-zone:{_dotted(domain)}", lookup)

    @staticmethod
    def _await_validation(acm: Any, detail: dict[str, Any], changes: list[dict[str, Any]],
                          ctx: ApplyContext) -> dict[str, Any]:
        """At failover, with every validation record in a zone, ACM's verdict is waited for (minutes); nightly
        staging and a drill do not wait: the next night finds the certificate issued."""
        if ctx.staging or ctx.drill_id or any(c["status"] != "made" for c in changes):
            return detail
        arn = detail["CertificateArn"]
        try:
            acm.get_waiter("certificate_validated").wait(CertificateArn=arn, WaiterConfig=VALIDATED_WAIT)
        except WaiterError:
            pass  # still pending: the warning says so, and the listener needing it refuses, naming it
        return acm.describe_certificate(CertificateArn=arn)["Certificate"]

    @staticmethod
    def _describe(acm: Any, arn: str) -> dict[str, Any] | None:
        try:
            return acm.describe_certificate(CertificateArn=arn)["Certificate"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/acm/home?region={region}#/certificates/{recovered_id.rsplit('/', 1)[-1]}"


def _in_zone(route53: Any, zone_id: str, name: str, record: dict[str, str]) -> bool:
    """The validation record is in the zone with ACM's value already (written by an earlier run, or by the team
    when it validated the primary's certificate: the record is the same for every certificate of the name)."""
    found = route53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name,
                                              StartRecordType=record["Type"], MaxItems="1")["ResourceRecordSets"]
    return any(_dotted(r["Name"]) == name and r["Type"] == record["Type"]
               and [_dotted(v["Value"]) for v in r.get("ResourceRecords", [])] == [_dotted(record["Value"])]
               for r in found)

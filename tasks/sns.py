"""SNS topics: the topic an application publishes to, recreated in the recovery region with its attributes, its
translated policy and its subscriptions pointing at what the recovery side answers with.

A topic costs nothing while idle, so it is staged nightly (pilot light). Its attributes (display name, delivery
policy, FIFO and its deduplication, encryption with the mapped key) and its tags are given at CreateTopic; its
policy is translated (core.policy.translate). Its subscriptions follow it: an `sqs` or `lambda` endpoint names a
queue or a function this plan recovers (a dependency, applied first), so its ARN is rewritten to the recovered
one; an `http(s)` URL is translated (a known endpoint is rewritten, one still naming the primary is warned);
`email`, `email-json` and `sms` endpoints are people: they are subscribed and the report says that an email
subscription waits for its recipient's confirmation (Subscribe: "the endpoint owner must confirm"). Subscription
attributes (raw delivery, filter policy and scope, redrive policy to the recovered dead-letter queue, delivery
policy) are translated too.

A drill's topic is a suffixed copy whose subscriptions reach only the drill's own queues and functions: it never
mails, texts or calls a person or a URL outside the plan (they would take a drill for the real thing); `cleanup`
removes drill topics by drflow's tags. The recovered id is the topic's ARN. Messages are not copied: SNS keeps
none.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.invoke_grants import allow_invoke
from core.keys import KeyCatalog, created_key, key_links, recovery_key
from core.models import Mode, Phase, Resource
from core.ownership import owned, recovered_name
from core.plan import Plan
from core.policy import references, translate

TOPIC = "sns:topic"
NAME_LIMIT = 256  # CreateTopic: "Topic names must be made up of only ... and must be between 1 and 256 characters"
FIFO = ".fifo"
# the delivery-status logging roles (IAM role ARNs, translated): "<protocol><Success|Failure>FeedbackRoleArn"
FEEDBACK = tuple(f"{p}{o}FeedbackRoleArn" for p in ("Application", "Firehose", "HTTP", "Lambda", "SQS")
                 for o in ("Success", "Failure"))
# what CreateTopic accepts among what GetTopicAttributes answers (CreateTopic's Attributes, AWS SNS API reference;
# botocore's model types them only as a string map). Policy and KmsMasterKeyId are handled apart.
SETTABLE = ("DisplayName", "DeliveryPolicy", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion",
            "TracingConfig", "ArchivePolicy", "FifoThroughputScope", *FEEDBACK)
CREATE_ONLY = ("FifoTopic",)  # SetTopicAttributes: a topic is FIFO from its creation or never
# SetSubscriptionAttributes' AttributeName (botocore's sns model)
SUB_SETTABLE = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy",
                "SubscriptionRoleArn")
SUB_DOCUMENTS = ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy")
INTERNAL = ("sqs", "lambda")  # endpoints this plan recovers: rewritten to the recovered queue or function
PEOPLE = ("email", "email-json", "sms")
NOT_FOUND = {"NotFound", "NotFoundException"}
PENDING = "PendingConfirmation"
MESSAGES = "not copied: SNS stores no messages"


def _document(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return value


def _arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def _name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _endpoint_ref(protocol: str, endpoint: str) -> str | None:
    """The ref of the queue or function a subscription delivers to (a Lambda ARN may end in a qualifier)."""
    if protocol == "sqs":
        return f"sqs:{_name_of(endpoint)}"
    if protocol == "lambda":
        parts = endpoint.split(":")
        return f"lambda:function:{parts[6]}" if len(parts) > 6 else None
    return None


class TopicHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = TOPIC
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True  # an idle topic costs nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("sns",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's topic serves again as it was; publishers configured with the "
                                      "recovered topic's ARN must be pointed back")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        sns = source.client("sns")
        catalog: KeyCatalog | None = None
        out = []
        for topic in paginate(sns, "list_topics", "Topics"):
            arn = topic["TopicArn"]
            try:
                attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
                tags = sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []
                subscriptions = self._subscriptions(sns, arn)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            key = None
            if attrs.get("KmsMasterKeyId"):
                catalog = catalog or KeyCatalog(source)
                key = catalog.describe(attrs["KmsMasterKeyId"])
            policy = _document(attrs.get("Policy"))
            refs = set(references(policy)) if policy else set()
            for sub in subscriptions:
                ref = _endpoint_ref(sub["protocol"], sub["endpoint"])
                refs |= {ref} if ref else set()
                dead_letter = (sub["attributes"].get("RedrivePolicy") or {}).get("deadLetterTargetArn")
                refs |= {f"sqs:{_name_of(dead_letter)}"} if dead_letter else set()
            out.append(Resource(
                type=TOPIC, source_id=arn, name=_name_of(arn), arn=arn, tags={t["Key"]: t["Value"] for t in tags},
                config={"attributes": {k: attrs[k] for k in SETTABLE if attrs.get(k)}, "kms_key": key,
                        "policy": policy, "subscriptions": subscriptions},
                links=key_links(plan, key), refs=sorted(refs)))
        return out

    @staticmethod
    def _subscriptions(sns: Any, topic: str) -> list[dict[str, Any]]:
        """(protocol, endpoint, settable attributes) of each subscription; a pending one has no attributes to
        read (GetSubscriptionAttributes needs a confirmed subscription's ARN)."""
        out = []
        for sub in paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic):
            attrs: dict[str, Any] = {}
            if sub["SubscriptionArn"].startswith("arn:"):
                have = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
                attrs = {k: (_document(have[k]) if k in SUB_DOCUMENTS else have[k])
                         for k in SUB_SETTABLE if have.get(k)}
            out.append({"protocol": sub["Protocol"], "endpoint": sub["Endpoint"], "attributes": attrs})
        return sorted(out, key=lambda s: (s["protocol"], s["endpoint"]))

    # ---- the recovered topic ---------------------------------------------------------------------------

    @staticmethod
    def _name(resource: Resource, ctx: ApplyContext | CleanupContext) -> str:
        base = resource.name.removesuffix(FIFO)
        fifo = resource.name.endswith(FIFO)
        return recovered_name(base, ctx, NAME_LIMIT - (len(FIFO) if fifo else 0)) + (FIFO if fifo else "")

    def _own(self, resource: Resource, ctx: ApplyContext) -> str:
        return _arn(ctx.recovery.region, ctx.plan.recovery.account_id, self._name(resource, ctx))

    @staticmethod
    def _tags(sns: Any, arn: str) -> list[dict[str, str]] | None:
        """The topic's tags, None when there is no such topic (ListTagsForResource: ResourceNotFound)."""
        try:
            return sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND | {"ResourceNotFound", "ResourceNotFoundException"}:
                return None
            raise

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """The recovered topic when drflow made it; one of that name that is not drflow's is refused."""
        arn = self._own(resource, ctx)
        tags = self._tags(ctx.recovery.client("sns"), arn)
        if tags is None:
            return None
        if not owned(tags, resource, ctx):
            raise Unrecoverable(f"topic {_name_of(arn)} already exists in {ctx.recovery.region} and is not "
                                "drflow's copy for this plan; rename or remove it")
        return arn

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        sns = ctx.recovery.client("sns")
        found = self.find(resource, ctx)
        warnings: list[str] = []
        t = ctx.translation(resource)
        t = replace(t, renames={**t.renames, resource.source_id: self._own(resource, ctx)})
        wanted = self._wanted(resource, ctx, t, warnings)
        created = changed = False
        if found is None:  # one call with its attributes and tags: nothing half-made to find again
            arn = sns.create_topic(Name=self._name(resource, ctx), Attributes=wanted,
                                   Tags=ctx.tag_list(resource))["TopicArn"]
            created = True
        else:
            arn = found
            have = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            for k, v in wanted.items():  # SetTopicAttributes takes one attribute a call
                if k not in CREATE_ONLY and not _same(k, have.get(k), v):
                    sns.set_topic_attributes(TopicArn=arn, AttributeName=k, AttributeValue=v)
                    changed = True
        subscribed, skipped = self._subscribe(sns, arn, resource, ctx, t, warnings)
        return Applied(arn, created=created, changed=changed or (subscribed and not created), warnings=warnings,
                       details={"messages": MESSAGES, **({"not subscribed": skipped} if skipped else {})})

    def _wanted(self, resource: Resource, ctx: ApplyContext, t: Any, warnings: list[str]) -> dict[str, str]:
        cfg = resource.config
        wanted = dict(cfg["attributes"])
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
        if key:
            wanted["KmsMasterKeyId"] = key
        for role in set(FEEDBACK) & set(wanted):
            done = translate(wanted[role], t)
            warnings += [f"{role}: {w}" for w in done.warnings]
            wanted[role] = done.document
        if "DeliveryPolicy" in wanted:
            wanted["DeliveryPolicy"] = json.dumps(_document(wanted["DeliveryPolicy"]), sort_keys=True)
        if cfg.get("policy"):
            done = translate(cfg["policy"], t)
            warnings += [f"Policy: {w}" for w in done.warnings]
            wanted["Policy"] = json.dumps(done.document, sort_keys=True)
        return wanted

    def _subscribe(self, sns: Any, arn: str, resource: Resource, ctx: ApplyContext, t: Any,
                   warnings: list[str]) -> tuple[bool, list[str]]:
        """Each source subscription, translated, matched to the recovered topic's by (protocol, endpoint): one
        missing is subscribed, one whose attributes drifted is set. Returns (wrote, what was left out and why)."""
        have = {(s["Protocol"], s["Endpoint"]): s["SubscriptionArn"]
                for s in paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=arn)}
        wrote, skipped = False, []
        for sub in resource.config["subscriptions"]:
            protocol, where = sub["protocol"], f"Subscription {sub['protocol']}"
            endpoint, target = self._endpoint(sub, ctx, t, warnings, where)
            reason = self._left_out(protocol, target, ctx)
            if reason:
                skipped.append(f"{protocol} {endpoint if protocol not in PEOPLE else '(a person)'}: {reason}")
                continue
            attributes = {}
            for k, v in sub["attributes"].items():
                done = translate(v, t)
                warnings += [f"{where}.{k}: {w}" for w in done.warnings]
                attributes[k] = json.dumps(done.document, sort_keys=True) if k in SUB_DOCUMENTS else done.document
            if protocol == "lambda" and target:  # the function's policy is not recovered with it: see core.invoke_grants
                wrote |= allow_invoke(ctx.recovery.client("lambda"), endpoint, "sns.amazonaws.com", arn)
            existing = have.get((protocol, endpoint))
            if existing is None:
                sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes,
                              ReturnSubscriptionArn=True)
                wrote = True
                if protocol in PEOPLE:
                    warnings.append(f"{where}: subscribed; it waits for its recipient's confirmation")
            elif existing.startswith("arn:"):
                current = sns.get_subscription_attributes(SubscriptionArn=existing)["Attributes"]
                for k, v in attributes.items():
                    if not _same(k, current.get(k), v, SUB_DOCUMENTS):
                        sns.set_subscription_attributes(SubscriptionArn=existing, AttributeName=k, AttributeValue=v)
                        wrote = True
            else:  # still pending: Subscribe again would only send the recipient another confirmation
                warnings.append(f"{where}: still waits for its recipient's confirmation")
        return wrote, skipped

    @staticmethod
    def _endpoint(sub: dict[str, Any], ctx: ApplyContext, t: Any, warnings: list[str], where: str
                  ) -> tuple[str, str | None]:
        """(the endpoint to subscribe, the recovered queue or function it names, None when it names none). A
        Lambda endpoint may carry a qualifier (an alias or version), kept on the recovered function's ARN."""
        ref = _endpoint_ref(sub["protocol"], sub["endpoint"])
        target = None
        if ref:
            try:
                target = ctx.linked(ref).recovered_id
            except KeyError:
                warnings.append(f"{where}.Endpoint: {sub['endpoint']} is not recovered by this plan: the "
                                "translated ARN names a target that may not exist in the recovery region")
        if target:
            qualifier = sub["endpoint"].split(":")[7:] if sub["protocol"] == "lambda" else []
            return ":".join([target, *qualifier]), target
        done = translate(sub["endpoint"], t)
        warnings += [f"{where}.Endpoint: {w}" for w in done.warnings]
        return done.document, None

    @staticmethod
    def _left_out(protocol: str, target: str | None, ctx: ApplyContext) -> str | None:
        """Why a subscription is not made in this run, or None. Nightly, a standby topic reaches no person (a
        pending confirmation expires after three days, and each new Subscribe mails again) and no function (not
        staged: it exists only from the failover on); a drill reaches only its own queues and functions."""
        if ctx.mode == Mode.DRILL and (protocol not in INTERNAL or not target):
            return "a drill reaches only its own queues and functions"
        if ctx.staging and protocol in PEOPLE:
            return "subscribed at failover (a standby topic mails nobody)"
        if ctx.staging and protocol == "lambda" and not target:
            return "subscribed at failover, once the function is recovered"
        return None

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        sns = ctx.recovery.client("sns")
        try:
            attrs = sns.get_topic_attributes(TopicArn=recovered_id)["Attributes"]
            subscriptions = self._subscriptions(sns, recovered_id)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return {}
            raise
        return {"Policy": _document(attrs.get("Policy")), "Subscriptions": subscriptions}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' topics, by drflow's tags (DeleteTopic also deletes the topic's subscriptions)."""
        sns = ctx.recovery.client("sns")
        gone = []
        for topic in paginate(sns, "list_topics", "Topics"):
            arn = topic["TopicArn"]
            tags = self._tags(sns, arn)
            if tags is not None and ctx.matches(tags) and delete_quietly(sns.delete_topic, TopicArn=arn):
                gone.append(_name_of(arn))
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/sns/v3/home?region={region}#/topic/{quote(recovered_id, safe='')}"


def _same(attribute: str, have: str | None, wanted: str, documents: tuple[str, ...] = ("Policy", "DeliveryPolicy")
          ) -> bool:
    if attribute in documents:
        return _document(have) == _document(wanted)
    return have == wanted

"""SQS queues: the queue an application sends to, recreated in the recovery region with what makes it the same
queue to its producers and consumers; its messages are not copied.

A queue costs nothing while idle, so it is staged nightly (pilot light) and adopted at failover: its attributes
(visibility, retention, delay, size, long polling, FIFO and its deduplication, encryption with the mapped key),
its redrive policy pointing at the recovered dead-letter queue (a dependency, applied first), its redrive allow
policy and its queue policy, translated (core.policy.translate: the topic allowed to send, the account, the
region). A drill's queue is a suffixed copy (a FIFO queue's name keeps its `.fifo` end), removed by `cleanup`.

The recovered id is the queue's ARN (so that an ARN naming the queue anywhere, an event source mapping, a topic's
subscription, a rule's target, is rewritten to the recovered one); its URL, which applications hold in their
configuration, is its endpoint `url` (core/references.py). Messages in flight stay in the primary's queue: SQS
has no replication, and a copy would be delivered twice; the report says so.
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
from core.keys import KeyCatalog, created_key, key_links, recovery_key
from core.models import Phase, Resource
from core.ownership import owned, recovered_name
from core.plan import Plan
from core.policy import references, translate

QUEUE = "sqs:queue"
NAME_LIMIT = 80  # CreateQueue: "A queue name can have up to 80 characters"
FIFO = ".fifo"
# what CreateQueue and SetQueueAttributes accept (botocore's sqs model, QueueAttributeName); the rest is read-only
SETTABLE = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
            "FifoThroughputLimit", "SqsManagedSseEnabled", "KmsDataKeyReusePeriodSeconds")
CREATE_ONLY = ("FifoQueue",)  # SetQueueAttributes refuses it: a queue is FIFO from its creation or never
DOCUMENTS = ("Policy", "RedrivePolicy", "RedriveAllowPolicy")
NOT_FOUND = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
MESSAGES = "not copied: messages in flight stay in the primary's queue (SQS has no replication)"


def _document(value: str | None) -> Any:
    return json.loads(value) if value else None


def _arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


class QueueHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = QUEUE
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True  # an idle queue costs nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("sqs",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's queue serves again as it was; messages left in the recovered "
                                      "queue are not moved back")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        sqs = source.client("sqs")
        catalog: KeyCatalog | None = None
        out = []
        for url in paginate(sqs, "list_queues", "QueueUrls"):
            try:
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
                tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            arn = attrs["QueueArn"]
            key = None
            if attrs.get("KmsMasterKeyId"):
                catalog = catalog or KeyCatalog(source)
                key = catalog.describe(attrs["KmsMasterKeyId"])
            documents = {d: _document(attrs.get(d)) for d in DOCUMENTS}
            dead_letter = (documents["RedrivePolicy"] or {}).get("deadLetterTargetArn")
            refs = references(documents["Policy"]) if documents["Policy"] else []
            refs += [f"sqs:{_name_of(dead_letter)}"] if dead_letter else []
            out.append(Resource(
                type=QUEUE, source_id=arn, name=_name_of(arn), arn=arn, tags=dict(tags),
                config={"attributes": {k: attrs[k] for k in SETTABLE if k in attrs}, "kms_key": key, **{
                    d.lower(): documents[d] for d in DOCUMENTS}},
                endpoints={"url": url}, links=key_links(plan, key), refs=sorted(set(refs))))
        return out

    # ---- the recovered queue ---------------------------------------------------------------------------

    @staticmethod
    def _name(resource: Resource, ctx: ApplyContext | CleanupContext) -> str:
        base = resource.name.removesuffix(FIFO)
        fifo = resource.name.endswith(FIFO)
        return recovered_name(base, ctx, NAME_LIMIT - (len(FIFO) if fifo else 0)) + (FIFO if fifo else "")

    @staticmethod
    def _url(sqs: Any, name: str) -> str | None:
        try:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise

    def _existing(self, resource: Resource, ctx: ApplyContext) -> tuple[str, str | None]:
        """(the recovered queue's name, its URL when drflow made it); a queue of that name that is not drflow's
        is refused, never adopted."""
        sqs, name = ctx.recovery.client("sqs"), self._name(resource, ctx)
        url = self._url(sqs, name)
        if url and not owned(sqs.list_queue_tags(QueueUrl=url).get("Tags"), resource, ctx):
            raise Unrecoverable(f"queue {name} already exists in {ctx.recovery.region} and is not drflow's copy "
                                "for this plan; rename or remove it")
        return name, url

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        name, url = self._existing(resource, ctx)
        return _arn(ctx.recovery.region, ctx.plan.recovery.account_id, name) if url else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        sqs = ctx.recovery.client("sqs")
        name, url = self._existing(resource, ctx)
        warnings: list[str] = []
        wanted = self._wanted(resource, ctx, warnings)
        created = changed = False
        if url is None:  # one call with its tags: nothing half-made to find again
            url = sqs.create_queue(QueueName=name, Attributes=wanted, tags=ctx.tags(resource))["QueueUrl"]
            created = True
        else:
            have = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            drift = {k: v for k, v in wanted.items() if k not in CREATE_ONLY and not _same(k, have.get(k), v)}
            drift.update({d: "" for d in DOCUMENTS if d not in wanted and have.get(d)})  # removed at the source
            if drift:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=drift)
                changed = True
        return Applied(_arn(ctx.recovery.region, ctx.plan.recovery.account_id, name), created=created,
                       changed=changed, endpoints={"url": url}, warnings=warnings,
                       details={"url": url, "messages": MESSAGES})

    def _wanted(self, resource: Resource, ctx: ApplyContext, warnings: list[str]) -> dict[str, str]:
        cfg = resource.config
        wanted = dict(cfg["attributes"])
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
        if key:
            wanted["KmsMasterKeyId"] = key
        own = _arn(ctx.recovery.region, ctx.plan.recovery.account_id, self._name(resource, ctx))
        t = ctx.translation(resource)
        t = replace(t, renames={**t.renames, resource.source_id: own})  # the policy's Resource: this queue
        if cfg.get("redrivepolicy"):
            redrive = dict(cfg["redrivepolicy"])
            redrive["deadLetterTargetArn"] = self._queue_arn(redrive["deadLetterTargetArn"], ctx, t, warnings,
                                                             "RedrivePolicy.deadLetterTargetArn")
            wanted["RedrivePolicy"] = json.dumps(redrive, sort_keys=True)
        for field, document in (("Policy", cfg.get("policy")), ("RedriveAllowPolicy", cfg.get("redriveallowpolicy"))):
            if document:
                done = translate(document, t)
                warnings += [f"{field}: {w}" for w in done.warnings]
                wanted[field] = json.dumps(done.document, sort_keys=True)
        return wanted

    @staticmethod
    def _queue_arn(arn: str, ctx: ApplyContext, t: Any, warnings: list[str], where: str) -> str:
        """The recovered queue an ARN names (the dead-letter queue, a dependency), else its ARN translated, with a
        warning: the queue it names may not exist on the recovery side."""
        try:
            recovered = ctx.linked(f"sqs:{_name_of(arn)}").recovered_id
        except KeyError:
            recovered = None
        if recovered:
            return recovered
        warnings.append(f"{where}: {arn} is not recovered by this plan: the translated ARN names a queue that may "
                        "not exist in the recovery region")
        return translate(arn, t).document

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        sqs = ctx.recovery.client("sqs")
        url = self._url(sqs, _name_of(recovered_id))
        if url is None:
            return {}
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return {d: _document(attrs.get(d)) for d in DOCUMENTS if attrs.get(d)}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' queues, by drflow's tags. (AWS takes up to 60 seconds to delete a queue; nothing waits
        for one, since no other resource of a drill needs a queue gone first.)"""
        sqs = ctx.recovery.client("sqs")
        gone = []
        for url in paginate(sqs, "list_queues", "QueueUrls"):
            try:
                tags = sqs.list_queue_tags(QueueUrl=url).get("Tags")
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:
                    continue
                raise
            if ctx.matches(tags) and _delete(sqs, url):
                gone.append(url.rsplit("/", 1)[-1])
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        account, name = recovered_id.split(":")[4], _name_of(recovered_id)
        url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        return f"{console_host(region)}/sqs/v3/home?region={region}#/queues/{quote(url, safe='')}"


def _same(attribute: str, have: str | None, wanted: str) -> bool:
    if attribute in DOCUMENTS:
        return _document(have) == _document(wanted)
    return have == wanted


def _delete(sqs: Any, url: str) -> bool:
    try:
        return delete_quietly(sqs.delete_queue, QueueUrl=url)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return False
        raise

"""Where the sandbox's moto SNS is kinder than AWS in a way drflow meets: subscriptions that need confirming.

moto 5.2.5 confirms every subscription at once. AWS does not: "If the endpoint type is HTTP/S or email, or if the
endpoint and the topic are not in the same Amazon Web Services account, the endpoint owner must run the
ConfirmSubscription action to confirm the subscription" (SNS API Reference, Subscribe). Until then the
subscription is listed with `"SubscriptionArn": "PendingConfirmation"` (ListSubscriptionsByTopic), its attributes
say `"PendingConfirmation": "true"` (GetSubscriptionAttributes), and it delivers nothing. A recovered topic's email
subscription therefore waits for a person, which is what drflow reports; here it waits too. (Subscribe with
ReturnSubscriptionArn still answers the subscription's ARN: "the response includes the ARN in all cases, even if
the subscription is not yet confirmed".) Nobody confirms in the sandbox, so a pending subscription stays pending.

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.sns.models import SNSBackend, Subscription

NEEDS_CONFIRMATION = ("email", "email-json", "http", "https")
PENDING = "PendingConfirmation"


def _pending(sub: Subscription, owner: str) -> bool:
    if sub.protocol in NEEDS_CONFIRMATION:
        return True
    if sub.protocol in ("sqs", "lambda"):  # an endpoint in another account confirms for itself
        return sub.endpoint.split(":")[4:5] != [owner]
    return False


def install() -> None:
    if getattr(SNSBackend, "_drflow_pending", False):  # once per process: the sandbox may be started again
        return
    SNSBackend._drflow_pending = True  # type: ignore[attr-defined]
    subscribe, listed, by_topic = SNSBackend.subscribe, SNSBackend.list_subscriptions, \
        SNSBackend.list_subscriptions_by_topic

    def _subscribe(self: SNSBackend, topic_arn: str, endpoint: str, protocol: str) -> Subscription:
        sub = subscribe(self, topic_arn, endpoint, protocol)
        if _pending(sub, self.account_id):
            sub.attributes.update({"PendingConfirmation": "true", "ConfirmationWasAuthenticated": "false"})
        return sub

    def _as_listed(subs: list[Subscription]) -> list[Subscription]:
        out = []
        for sub in subs:
            if sub.attributes.get("PendingConfirmation") == "true":
                sub = copy.copy(sub)
                sub.arn = PENDING
            out.append(sub)
        return out

    def _list(self: SNSBackend, next_token: Any = None) -> tuple[list[Subscription], Any]:
        subs, token = listed(self, next_token=next_token)
        return _as_listed(subs), token

    def _list_by_topic(self: SNSBackend, topic_arn: str, next_token: Any = None) -> tuple[list[Subscription], Any]:
        subs, token = by_topic(self, topic_arn, next_token=next_token)
        return _as_listed(subs), token

    SNSBackend.subscribe = _subscribe  # type: ignore[method-assign]
    SNSBackend.list_subscriptions = _list  # type: ignore[method-assign]
    SNSBackend.list_subscriptions_by_topic = _list_by_topic  # type: ignore[method-assign]

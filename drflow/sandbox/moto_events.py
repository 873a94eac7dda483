"""Where the sandbox's moto EventBridge is kinder than AWS in a way drflow meets: tags on an existing rule, and a
bus deleted with its rules.

moto 5.2.5 applies the Tags of a PutRule that updates an existing rule. AWS does not: "If you are updating an
existing rule, any tags you specify in the PutRule operation are ignored. To update the tags of an existing rule,
use TagResource and UntagResource" (EventBridge API Reference, PutRule; botocore's events model, PutRule). A
re-run that finds a rule drflow did not tag must not be able to claim it by a PutRule.

moto 5.2.5 deletes a custom event bus together with its rules. AWS documents that "All rules associated with this
event bus need to be deleted" first (EventBridge API Reference, DeleteEventBus,
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DeleteEventBus.html): here DeleteEventBus is
refused while the bus has a rule. (The error code for this case is not documented; ValidationException, the code
EventBridge answers for a request it refuses as it stands, is used.) moto already refuses DeleteRule while the rule
has targets, as AWS does (API_DeleteRule.html: "Before you can delete the rule, you must remove all targets").

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

from typing import Any

from moto.events.exceptions import ValidationException
from moto.events.models import EventsBackend


def install() -> None:
    if getattr(EventsBackend, "_drflow_faithful", False):  # once per process: the sandbox may be started again
        return
    EventsBackend._drflow_faithful = True  # type: ignore[attr-defined]
    put_rule, delete_event_bus = EventsBackend.put_rule, EventsBackend.delete_event_bus

    def _put_rule(self: EventsBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        bus = self.event_buses.get(self._normalize_event_bus_arn(kwargs.get("event_bus_arn")))
        if bus is not None and name in bus.rules:
            kwargs["tags"] = None  # an update: its tags are ignored
        return put_rule(self, name, *args, **kwargs)

    def _delete_event_bus(self: EventsBackend, name: str) -> None:
        bus = self.event_buses.get(name)
        if bus is not None and bus.rules:
            raise ValidationException(f"Cannot delete event bus {name}: it still has rules "
                                      f"({', '.join(sorted(bus.rules))}); delete them first.")
        delete_event_bus(self, name)

    EventsBackend.put_rule = _put_rule  # type: ignore[method-assign]
    EventsBackend.delete_event_bus = _delete_event_bus  # type: ignore[method-assign]

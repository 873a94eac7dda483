"""What every handler owes the flows: the Handler protocol, and each capability it claims, implemented.

`problems(handler)` is the check; tests/contract/test_handlers.py runs it over the whole registry, and
tests/contract/test_contract_check.py shows it failing on handlers broken on purpose.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from core.capabilities import CAPABILITIES
from core.failback import FailbackPhase
from core.handler import Handler
from core.models import Phase

TYPE_RE = re.compile(r"^[a-z0-9]+:[a-z0-9-]+$")  # "ec2:vpc", "elasticbeanstalk:environment"
ARN_KIND_RE = re.compile(r"^[a-z0-9-]+(:[A-Za-z0-9-]+)?$")  # "s3", "elasticloadbalancing:targetgroup"
REQUIRED = ("discover", "find", "apply")


def _members(protocol: type) -> list[str]:
    return sorted(n for n in protocol.__dict__.get("__annotations__", {}) if not n.startswith("_")) + sorted(
        n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))


def _implementer(cls: type, name: str) -> type | None:
    """The first class in the MRO that defines `name` (a protocol's stub does not count as an implementation)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def _signature_problems(cls: type, protocol: type, name: str) -> list[str]:
    wanted = getattr(protocol, name, None)
    if not callable(wanted):
        return []
    have = getattr(cls, name)
    if not callable(have):
        return [f"{name} is not a method"]
    want_params = list(inspect.signature(wanted).parameters)
    have_params = list(inspect.signature(have).parameters)
    if have_params != want_params:
        return [f"{name}{tuple(have_params)} should take {tuple(want_params)} ({protocol.__name__})"]
    return []


def problems(handler: Any) -> list[str]:
    """Everything `handler` owes and lacks, named; [] when it keeps the contract."""
    cls = type(handler)
    out: list[str] = []
    if not isinstance(handler, Handler):
        missing = [n for n in ("type", "phase", "pilot_light", "internet_facing", "version", *REQUIRED)
                   if not hasattr(cls, n)]
        out.append(f"not a Handler: lacks {', '.join(missing)}")
        return out
    if not isinstance(cls.type, str) or not TYPE_RE.match(cls.type):
        out.append(f"type {cls.type!r} is not <service>:<kind>")
    if not isinstance(cls.phase, Phase) or cls.phase == Phase.OTHER:
        out.append(f"phase {cls.phase!r} is not a recovery phase (core.models.Phase)")
    if not isinstance(cls.version, int) or isinstance(cls.version, bool) or cls.version < 1:
        out.append(f"version {cls.version!r} is not a positive int")
    for flag in ("pilot_light", "internet_facing"):
        if not isinstance(getattr(cls, flag), bool):
            out.append(f"{flag} {getattr(cls, flag)!r} is not a bool")
    for name in REQUIRED:
        out += _signature_problems(cls, Handler, name)
    for protocol in CAPABILITIES:
        claims = protocol in cls.__mro__  # claimed by naming it among the bases
        members = _members(protocol)
        for name in members:
            implementer = _implementer(cls, name)
            implemented = implementer is not None and not getattr(implementer, "_is_protocol", False)
            if claims and not implemented:
                out.append(f"claims {protocol.__name__} but does not implement {name}")
            elif implemented and not claims:
                out.append(f"implements {name} but does not claim {protocol.__name__} among its bases")
            elif implemented:
                out += _signature_problems(cls, protocol, name)
        if claims:
            out += _value_problems(cls, members)
    return out


def _value_problems(cls: type, members: list[str]) -> list[str]:
    """The claimed capabilities' declared values, each of the kind its protocol documents."""
    out = []
    if "arn_kinds" in members:
        kinds = getattr(cls, "arn_kinds", ())
        if not kinds or not all(isinstance(k, str) and ARN_KIND_RE.match(k) for k in kinds):
            out.append(f"arn_kinds {kinds!r} are not <service>[:<resource type>] ARN kinds")
    if "removed_after" in members:
        after = getattr(cls, "removed_after", ())
        if not after or not all(isinstance(t, str) and TYPE_RE.match(t) and t != cls.type for t in after):
            out.append(f"removed_after {after!r} are not other <service>:<kind> types")
    if "failback_phase" in members and not isinstance(getattr(cls, "failback_phase", None), FailbackPhase):
        out.append(f"failback_phase {getattr(cls, 'failback_phase', None)!r} is not a FailbackPhase")
    for text in ("failback_plan", "not_failed_back"):
        if text in members and not (isinstance(getattr(cls, text, None), str) and getattr(cls, text).strip()):
            out.append(f"{text} {getattr(cls, text, None)!r} is not a text")
    if "restored_home" in members and getattr(cls, "restored_home", None) is not True:
        out.append(f"restored_home {getattr(cls, 'restored_home', None)!r} is not True")
    return out

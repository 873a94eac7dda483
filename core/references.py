"""References inside strings: what a longer value (a URL, a JDBC or Redis connection string, JSON in a string, a
script) says about the primary, rewritten to what it became on the recovery side.

core.policy.translate handles whole values (an ARN, an account id, a region, a renamed id); this module handles
what is inside a longer string, for every handler that carries a document (environments, user data, parameter and
secret values, targets):

- known endpoints, captured at discovery (`Resource.endpoints`: a database's address, a load balancer's DNS name,
  a queue URL, a bucket's URL forms) and read back after recovery (`ResourceResult.endpoints`), are replaced
  wherever they stand, as whole hostnames (never inside a longer name);
- ARNs inside the string, through the same rules as a whole-value ARN;
- JSON held in a string (a secret's value, a parameter) is translated as a document and written back;
- a regional service endpoint (`sqs.us-east-1.amazonaws.com`) names the service, not a resource: it becomes the
  recovery region's, unless a resource path follows it (a queue URL of a queue drflow did not recover);
- what still looks like the primary (a resource-specific host in the source region, the source account id in a
  cross-account plan) is kept and warned with its location, never passed in silence.

Warnings name the path and the offending token only, never the whole value: the value may be a secret.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import json
import re
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.policy import Translation

# an ARN inside a longer string: ends where a URL, JSON or shell would end it
EMBEDDED_ARN_RE = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?:[0-9]{12}|aws)?:[A-Za-z0-9_+=,.@/:*$%{}-]*"
                             r"[A-Za-z0-9_+=@/*$%}-]")
# characters that continue a hostname or a name on either side of a match: a match must stand alone
_BEFORE = r"(?<![A-Za-z0-9_.-])"
_AFTER = r"(?![A-Za-z0-9_-])(?!\.[A-Za-z0-9])"
GZIP_MAGIC = b"\x1f\x8b"


def rewrite(value: str, t: Translation, path: str, warnings: list[str],
            walk: Callable[[Any, Translation, str, list[str]], Any]) -> str:
    """`value` with every reference to the primary inside it rewritten; `walk` translates a JSON document held in
    the string (core.policy's walk, so that JSON in a string gets every rule a document gets)."""
    document = _json_in(value)
    if document is not None:
        done = walk(document, t, path, warnings)
        if done == document:
            return value
        spaced = ", " in value or ": " in value
        return json.dumps(done, separators=None if spaced else (",", ":"))
    before = len(warnings)
    out = _known_endpoints(value, t)
    out = EMBEDDED_ARN_RE.sub(lambda m: _embedded_arn(m.group(0), t, path, warnings), out)
    out = _regional_hosts(out, t, path, warnings)
    if len(warnings) == before:  # one warning per kept token: what was warned already is not warned again
        _leftovers(out, t, path, warnings)
    return out


def _json_in(value: str) -> Any:
    text = value.strip()
    if len(text) < 2 or text[0] not in "{[" or text[-1] not in "}]":
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, (dict, list)) else None


@functools.lru_cache(maxsize=256)
def _endpoint_pattern(sources: tuple[str, ...]) -> re.Pattern[str] | None:
    if not sources:
        return None
    alternatives = "|".join(re.escape(s) for s in sorted(sources, key=len, reverse=True))
    return re.compile(f"{_BEFORE}(?:{alternatives}){_AFTER}", re.IGNORECASE)


def _known_endpoints(value: str, t: Translation) -> str:
    pattern = _endpoint_pattern(tuple(sorted(t.endpoints)))
    if pattern is None:
        return value
    lowered = {k.lower(): v for k, v in t.endpoints.items()}
    return pattern.sub(lambda m: lowered[m.group(0).lower()], value)


def _embedded_arn(arn: str, t: Translation, path: str, warnings: list[str]) -> str:
    from core.policy import ARN_RE, _arn  # one set of ARN rules for whole values and embedded ones

    if arn in t.renames:
        return t.renames[arn]
    match = ARN_RE.match(arn)
    return _arn(match, t, path, warnings) if match else arn


@functools.lru_cache(maxsize=64)
def _regional_host_pattern(region: str) -> re.Pattern[str]:
    # service.region.amazonaws.com[.cn], optionally -fips, optionally followed by a port and what comes next
    return re.compile(_BEFORE + r"(?P<service>[a-z0-9]+(?:-fips)?)\." + re.escape(region)
                      + r"\.amazonaws\.com(?P<cn>\.cn)?(?P<port>:[0-9]+)?(?P<rest>/[^\s\"'<>]*)?" + _AFTER)


def _regional_hosts(value: str, t: Translation, path: str, warnings: list[str]) -> str:
    if t.source_region == t.recovery_region:
        return value

    def swap(m: re.Match[str]) -> str:
        rest = m["rest"] or ""
        if rest.strip("/") and not rest.startswith("/?"):
            if any(later.startswith(m.group(0).split("?")[0]) or m.group(0).startswith(later) for later in t.deferred):
                return m.group(0)  # a resource recovered at failover only: translated then
            warnings.append(f"{path}: kept {m.group(0).split('?')[0]}: a resource on the primary's "
                            f"{m['service']} endpoint that matches no recovered resource")
            return m.group(0)
        return (f"{m['service']}.{t.recovery_region}.amazonaws.com{m['cn'] or ''}{m['port'] or ''}{rest}")

    return _regional_host_pattern(t.source_region).sub(swap, value)


@functools.lru_cache(maxsize=64)
def _primary_host_pattern(region: str) -> re.Pattern[str]:
    return re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\." + re.escape(region)
                      + r"\.(?:[a-z0-9-]+\.)*amazonaws\.com(?:\.cn)?", re.IGNORECASE)


def _leftovers(value: str, t: Translation, path: str, warnings: list[str]) -> None:
    """Warn of what still names the primary after the rewriting: a resource's host in the source region (a
    database or load balancer drflow did not recover), and the source account id in a cross-account plan."""
    if t.source_region != t.recovery_region:
        for host in _primary_host_pattern(t.source_region).findall(value):
            if any(host in later for later in t.deferred):  # recovered at failover, translated then
                continue
            if not _regional_host_pattern(t.source_region).fullmatch(host):  # a kept service host warned already
                warnings.append(f"{path}: kept {host}: names an endpoint in {t.source_region} that matches no "
                                "recovered resource")
    if t.source_account != t.recovery_account and t.source_account in value and not any(
            new in value for new in t.renames.values() if t.source_account in new):
        for arn_or_url in re.findall(r"[^\s\"',;]*" + t.source_account + r"[^\s\"',;]*", value):
            if arn_or_url.startswith("arn:"):
                continue  # an ARN kept was warned by its own rule
            warnings.append(f"{path}: kept {arn_or_url}: contains the source account id {t.source_account}")


def decode_user_data(encoded: str) -> tuple[str, bool] | None:
    """User data as text, and whether it was gzip-compressed; None when it is not base64 of text (a binary
    payload is kept as it is)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    zipped = raw.startswith(GZIP_MAGIC)
    if zipped:
        try:
            raw = gzip.decompress(raw)
        except OSError:
            return None
    try:
        return raw.decode("utf-8"), zipped
    except UnicodeDecodeError:
        return None


def encode_user_data(text: str, zipped: bool) -> str:
    raw = text.encode("utf-8")
    if zipped:
        raw = gzip.compress(raw, mtime=0)  # mtime 0: the same script gives the same bytes (no drift every night)
    return base64.b64encode(raw).decode("ascii")


def strings(node: Any) -> list[str]:
    """Every string in a document (user data decoded), for the reference scan of core.scope and the audit."""
    found: list[str] = []

    def visit(item: Any, key: str = "") -> None:
        if isinstance(item, dict):
            for k, v in item.items():
                visit(v, str(k))
        elif isinstance(item, list):
            for v in item:
                visit(v, key)
        elif isinstance(item, str):
            decoded = decode_user_data(item) if key.lower().replace("_", "") == "userdata" else None
            found.append(decoded[0] if decoded else item)

    visit(node)
    return found


def endpoint_finder(endpoints: list[str]) -> re.Pattern[str] | None:
    """A pattern that finds any of `endpoints` standing alone in a string (as `rewrite` replaces them)."""
    return _endpoint_pattern(tuple(sorted(set(endpoints))))

"""What a rule's targets become on the recovery side: each names a function, queue, topic, bus or state machine by
ARN, and carries documents (Input, InputTransformer, parameters) that may name more of the primary.

A target whose referent this plan recovers is pointed at the recovered one (the rule depends on it: applied
after it, so its recovered id is known); one it does not recover is translated (region, account: the same name on
the recovery side) and warned; in a drill, it is left out (a drill never reaches what is not its own).
"""

from __future__ import annotations

import json
from typing import Any

from core.handler import ApplyContext
from core.policy import translate

# Target members that hold documents or ARNs (botocore's events model, Target); Id and Arn are handled apart
DOCUMENT_MEMBERS = ("RoleArn", "Input", "InputPath", "InputTransformer", "KinesisParameters", "RunCommandParameters",
                    "EcsParameters", "BatchParameters", "SqsParameters", "HttpParameters", "RedshiftDataParameters",
                    "SageMakerPipelineParameters", "RetryPolicy", "AppSyncParameters")


def target_ref(arn: str) -> str | None:
    """The "<service>:<kind>:<name>" a target's ARN names, for core.scope.refer (None: a kind drflow has no
    name for). A function's ARN may end in a qualifier (an alias or version)."""
    parts = arn.split(":")
    if len(parts) < 6:
        return None
    service, resource = parts[2], ":".join(parts[5:])
    if service == "lambda" and len(parts) >= 7 and parts[5] == "function":
        return f"lambda:function:{parts[6]}"
    if service in ("sqs", "sns"):
        return f"{service}:{resource}"
    if service == "events" and resource.startswith("event-bus/"):
        return f"events:event-bus:{resource.split('/', 1)[1]}"
    if service == "states" and resource.startswith("stateMachine:"):
        return f"states:stateMachine:{resource.split(':', 1)[1]}"
    return None


def recovered_arn(arn: str, ctx: ApplyContext) -> str | None:
    """The recovered ARN of what `arn` names when it is a dependency recovered in this run (a function's
    qualifier kept), else None."""
    ref = target_ref(arn)
    if ref is None:
        return None
    try:
        recovered = ctx.linked(ref).recovered_id
    except KeyError:
        return None
    if not recovered:
        return None
    qualifier = arn.split(":")[7:] if ref.startswith("lambda:") else []
    return ":".join([recovered, *qualifier])


def translated_targets(targets: list[dict[str, Any]], ctx: ApplyContext, t: Any, warnings: list[str],
                       skipped: list[str], drill: bool) -> tuple[list[dict[str, Any]], set[str]]:
    """The targets for the recovered rule (see the module's docstring), and which of their ARNs are resources
    recovered in this run; `warnings` and `skipped` are added to."""
    out, recovered = [], set()
    for target in targets:
        where = f"Target {target['Id']}"
        arn = recovered_arn(target["Arn"], ctx)
        if arn is None and drill:
            skipped.append(f"{where}: {target['Arn']} is not recovered by this drill")
            continue
        if arn is None:
            done = translate(target["Arn"], t)
            warnings.append(f"{where}.Arn: {target['Arn']} is not recovered by this plan: the translated ARN names "
                            "a target that may not exist in the recovery region")
            warnings += [f"{where}.Arn: {w}" for w in done.warnings]
            arn = done.document
        else:
            recovered.add(arn)
        entry: dict[str, Any] = {"Id": target["Id"], "Arn": arn}
        for member in DOCUMENT_MEMBERS:
            if member in target:
                done = translate(target[member], t)
                warnings += [f"{where}.{member}: {w}" for w in done.warnings]
                entry[member] = done.document
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letter:
            queue = recovered_arn(dead_letter, ctx)
            if queue is None:
                done = translate(dead_letter, t)
                warnings.append(f"{where}.DeadLetterConfig.Arn: {dead_letter} is not recovered by this plan")
                queue = done.document
            entry["DeadLetterConfig"] = {"Arn": queue}
        out.append(entry)
    return out, recovered


def comparable(targets: list[dict[str, Any]]) -> list[str]:
    """Targets as sets of canonical JSON (Input is JSON in a string: compared parsed)."""
    def canonical(target: dict[str, Any]) -> str:
        item = dict(target)
        if isinstance(item.get("Input"), str):
            try:
                item["Input"] = json.loads(item["Input"])
            except ValueError:
                pass
        return json.dumps(item, sort_keys=True)

    return sorted(canonical(t) for t in targets)

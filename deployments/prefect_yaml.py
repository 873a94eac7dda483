"""A plan's Prefect deployments, as the prefect.yaml that `prefect deploy --all` reads.

`drflow deployments --plan FILE` prints it; deployments/prefect.yaml is its output for the sample plan `shop`
(tests/deployments/test_deployments.py keeps the two identical). Every deployment passes the plan by its PlanBlock's
name, so the plan is edited once (drflow plan save) and no deployment needs redeploying for it.

The nightly schedule comes from the plan's RPO (`nightly_schedule`): a recovery point at least as often as
the RPO allows data to be lost, on a grid that divides the day, so runs land at the same clock times every day.
"""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from core.plan import Plan

WORK_POOL = "drflow"
DAILY_AT_UTC = 2  # the hour of a once-a-day replication: a quiet hour for most workloads, in UTC
RPO_WATCH_CRON = "30 * * * *"  # hourly, at half past: away from replications started on the hour
MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # the divisors of an hour
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)  # the divisors of a day

SCHEDULE_RULE = ("The nightly schedule follows the plan's rpo_minutes: 1440 or more -> once a day at "
                 f"{DAILY_AT_UTC:02d}:00 UTC; under a day -> every N hours (N in {', '.join(map(str, HOUR_STEPS))}) "
                 f"or every N minutes (N in {', '.join(map(str, MINUTE_STEPS))}), the longest such step that is "
                 "not longer than the RPO (90 -> hourly, 45 -> every 30 minutes).")


def nightly_schedule(rpo_minutes: int) -> str:
    """The replication's cron (UTC) for an RPO: see SCHEDULE_RULE."""
    if rpo_minutes >= 1440:
        return f"0 {DAILY_AT_UTC} * * *"
    hours = [h for h in HOUR_STEPS if h * 60 <= rpo_minutes]
    if hours:
        return "0 * * * *" if hours[-1] == 1 else f"0 */{hours[-1]} * * *"
    minutes = [m for m in MINUTE_STEPS if m <= rpo_minutes][-1]
    return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"


def deployments(plan: Plan, block: str) -> list[dict[str, Any]]:
    """The plan's deployments (names from the plan, `plan` parameter = the block's name), in prefect.yaml form."""
    name = plan.name

    def deployment(suffix: str, entrypoint: str, description: str, **parameters: Any) -> dict[str, Any]:
        return {"name": f"{name}-{suffix}", "entrypoint": entrypoint, "description": description,
                "tags": ["drflow", f"plan:{name}"], "parameters": {"plan": block, **parameters},
                "work_pool": {"name": WORK_POOL}}

    nightly = deployment("nightly", "flows/replicate.py:replicate",
                         f"Capture plan {name} into a new recovery point and stage the pilot light "
                         f"(RPO {plan.rpo_minutes} min).")
    nightly["schedules"] = [{"cron": nightly_schedule(plan.rpo_minutes), "timezone": "UTC"}]
    watch = deployment("rpo-watch", "flows/rpo_watch.py:rpo_watch",
                       f"Fail and emit drflow.rpo.breached when plan {name} is outside its RPO.")
    watch["schedules"] = [{"cron": RPO_WATCH_CRON, "timezone": "UTC"}]
    return [
        nightly,
        deployment("failover", "flows/failover.py:failover",
                   f"Fail plan {name} over into {plan.recovery.region}: pauses for approval unless approve."),
        deployment("drill", "flows/failover.py:failover",
                   f"Recover an isolated copy of plan {name} in {plan.recovery.region}; production untouched.",
                   drill=True),
        deployment("drill-cleanup", "flows/cleanup.py:drill_cleanup",
                   f"Remove what drills of plan {name} created (drill_id, or all)."),
        deployment("failback", "flows/failback.py:failback",
                   f"After a failover, bring plan {name} back into {plan.source.region}."),
        watch,
    ]


def render(plan: Plan, block: str, source: str = "FILE") -> str:
    """The whole prefect.yaml for one plan. `source` is the plan file it came from, for the header."""
    header = f"""\
# drflow's Prefect deployments for plan {plan.name} (plan block "{block}"), made by:
#   drflow deployments --plan {source} --block {block}
# Deploy them from the repository root, into the work pool {WORK_POOL} (type process):
#   prefect work-pool create {WORK_POOL} --type process
#   prefect deploy --all --prefect-file deployments/prefect.yaml
# The build step records the checkout's path; the workers (prefect worker start --pool {WORK_POOL}) run the
# flows from it. For workers on other machines, replace the pull step with a git_clone one.
""" + "".join(f"# {line}\n" for line in textwrap.wrap(SCHEDULE_RULE, 110))
    body = {
        "name": "drflow",
        "prefect-version": "3.9.1",
        "build": [{"prefect.deployments.steps.run_shell_script": {"id": "checkout", "script": "pwd",
                                                                  "stream_output": False}}],
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ checkout.stdout }}"}}],
        "deployments": deployments(plan, block),
    }
    return header + yaml.safe_dump(body, sort_keys=False, width=120, allow_unicode=True)

"""The `drflow` command: validate plans, run the flows, list recovery points, run the sandbox and demo.

Exit codes: 0 done; 1 the run finished but some resources failed; 2 refused (bad plan, failed
pre-flight, missing confirmation) before any write.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import typer

from core.plan import Plan, PlanError, load_plan

if TYPE_CHECKING:
    from rich.console import Console

    from drflow.progress import TerminalRun

# Without PREFECT_API_URL a command runs against a Prefect server of its own, started in the background, which
# was seen to need more than Prefect's default 20 s on a loaded machine: it gets 120 s (the operator's own value of
# this setting wins). Set before Prefect is imported: it reads its settings then.
EPHEMERAL_STARTUP = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
os.environ.setdefault(EPHEMERAL_STARTUP, "120")

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="drflow: disaster recovery for whole AWS workloads, as Prefect flows.")
sandbox_app = typer.Typer(no_args_is_help=True, help="The embedded sandbox: moto on loopback with a sample workload.")
app.add_typer(sandbox_app, name="sandbox")
drill_app = typer.Typer(no_args_is_help=True, help="Drills: recover an isolated copy (failover --drill), then clean up.")
app.add_typer(drill_app, name="drill")
plan_app = typer.Typer(no_args_is_help=True, help="Plans as Prefect blocks, which deployments refer to by name.")
app.add_typer(plan_app, name="plan")

PLAN_OPT = typer.Option(..., "--plan", "-p", help="plan file (YAML)", exists=False)
JSON_OPT = typer.Option(False, "--json", help="print one JSON object instead of text")
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="in a terminal, show Prefect's log lines (one or more per "
                           "task) as they come, instead of a live display per phase with the lines in a log file "
                           "named at the end")


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _registry_types() -> set[str]:
    from tasks.registry import default_registry

    return set(default_registry())


def _load(path: Path) -> Plan:
    try:
        return load_plan(path, _registry_types())
    except PlanError as exc:
        _err(f"plan {path} refused:")
        for field, msg in exc.problems:
            _err(f"  {field}: {msg}")
        raise typer.Exit(2) from None


_terminal: TerminalRun | None = None  # the command's, while it runs at a terminal (see _watched)
_own_process = False  # True when this process is the `drflow` command (main), not a caller's (tests, scripts)


def _console() -> Console:
    """Where the live display draws: stderr, where Prefect's lines went (stdout keeps the report alone)."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _watched(command: str, as_json: bool, verbose: bool) -> Iterator[None]:
    """Around the part of a command that runs flows: at a terminal, a live display per flow and Prefect's lines
    in a log file named at the end (drflow/progress.py). `--json`, `--verbose` and output that is no terminal
    (a pipe, a file, CI, a scheduler) get what they always got, byte for byte."""
    global _terminal
    console = None if as_json or verbose else _console()
    if console is None or not console.is_terminal:
        yield
        return
    from drflow.progress import TerminalRun

    with TerminalRun(console, command, restore=not _own_process) as run:
        _terminal = run
        try:
            yield
        finally:
            _terminal = None


def _flow_title(flow_fn: Any, params: dict[str, Any]) -> str:
    plan = params.get("plan")
    mode = " (dry run)" if params.get("dry_run") else " (drill)" if params.get("drill") else ""
    return f"{flow_fn.name.removeprefix('drflow-')}{mode} of plan {getattr(plan, 'name', plan)}"


def _run_flow(flow_fn: Any, as_json: bool, **params: Any) -> dict[str, Any]:
    """Run a flow in-process; print its report; exit 2 when refused before any write, 1 when a resource failed."""
    from flows.common import PreflightError

    try:
        with _terminal.flow(_flow_title(flow_fn, params)) if _terminal else nullcontext():
            state = flow_fn(return_state=True, **params)
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        _err(f"Prefect's own API server for this command did not start within {os.environ[EPHEMERAL_STARTUP]} s "
             "(a loaded machine?). Start one that stays up, `prefect server start`, and point drflow at it with "
             "PREFECT_API_URL=http://127.0.0.1:4200/api; or give the start-up longer with "
             f"{EPHEMERAL_STARTUP}=<seconds>. Nothing was run.")
        raise typer.Exit(1) from None
    result = state.result(raise_on_failure=False)
    if isinstance(result, PreflightError):
        _err(str(result))
        raise typer.Exit(2)
    if isinstance(result, BaseException):
        _err(f"{type(result).__name__}: {result}")
        raise typer.Exit(1)
    return result


def _emit(report: dict[str, Any], as_json: bool) -> None:
    from core import report as reports

    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    elif report.get("dry_run"):
        problems, flow = report.get("problems") or [], report["flow"]
        if problems:
            typer.echo(f"pre-flight: {len(problems)} problem(s) would refuse this {flow} before any write:")
            for p in problems:
                typer.echo(f"  {p['field']}: {p['problem']}")
        if report.get("writes_error"):
            typer.echo(f"ordered writes not worked out: {report['writes_error']}")
        mode = f" ({report['mode']})" if report.get("mode") else ""
        if "kept" in report:
            typer.echo(f"kept as they are in the primary: {len(report['kept'])} network and IAM resources")
        typer.echo(f"dry run: {flow} of plan {report['plan']} from recovery point {report['recovery_point']}{mode}; "
                   "no write made. Ordered writes:")
        for step in report["writes"]:
            typer.echo(f"  {step['step']:>4}. {step['action']:<45} {step['key']} {step['name']}")
            for c in step.get("changes", []):
                typer.echo(f"        {c['status']}: {c['where']} {c['what']}: {c.get('from') or ''} -> "
                           f"{c.get('to') or ''}")
                if c.get("change_batch"):
                    typer.echo(f"        change batch (zone {c.get('zone_id', '')}): "
                               f"{json.dumps(c['change_batch'], sort_keys=True)}")
        for step in report.get("then", []):
            typer.echo(f"  then: {step['action']:<45} {step['key']} {step['name']}")
    else:
        typer.echo(reports.text(report))


@app.command()
def validate(plan: Path = PLAN_OPT,
             offline: bool = typer.Option(False, "--offline", help="only the checks that need no AWS call")) -> None:
    """Check a plan: every field, then (unless --offline) the accounts, the recovery region and the names the plan
    gives (servers, depends_on) against the source estate, read-only."""
    loaded = _load(plan)
    if offline:
        typer.echo(f"plan {loaded.name} is valid ({loaded.source.region} -> {loaded.recovery.region}, offline checks "
                   "only): its names (servers.<name>, depends_on) could not be checked against the source estate; "
                   "run without --offline to check them")
        return
    from core.aws import AwsAccess
    from core.preflight import check_recovery_region, check_sides, check_source_estate
    from tasks.registry import default_registry

    aws = AwsAccess(loaded)
    protected = 0
    try:
        problems = check_sides(aws, ("source", "recovery"))
        if not any(f.startswith("recovery.") for f, _ in problems):  # the region is read through that side
            problems += check_recovery_region(loaded, aws.recovery)
        if not any(f.startswith("source.") for f, _ in problems):  # the estate is read through that side
            found, protected = check_source_estate(loaded, aws.source, default_registry())
            problems += found
    except Exception as exc:  # noqa: BLE001 - any failure to reach AWS is a refusal with its reason
        problems = [("aws", f"cannot check against AWS ({type(exc).__name__}: {exc}); use --offline to skip")]
    if problems:
        _err(f"plan {plan} refused:")
        for field, msg in problems:
            _err(f"  {field}: {msg}")
        raise typer.Exit(2)
    typer.echo(f"plan {loaded.name} is valid ({loaded.source.region} -> {loaded.recovery.region}; {protected} "
               f"resource(s) in scope in {loaded.source.region}, every name it gives found there)")


@app.command()
def replicate(plan: Path = PLAN_OPT, as_json: bool = JSON_OPT,
              refresh: bool = typer.Option(False, "--refresh", help="re-check every staged resource now"),
              verbose: bool = VERBOSE_OPT) -> None:
    """Run the replication flow once: capture a recovery point into the vault and stage the pilot light."""
    from flows.replicate import replicate as flow

    loaded = _load(plan)
    with _watched("replicate", as_json, verbose):
        report = _run_flow(flow, as_json, plan=loaded, refresh=refresh)
        _emit(report, as_json)
    raise typer.Exit(1 if report.get("failed") else 0)


@app.command()
def failover(plan: Path = PLAN_OPT,
             recovery_point: str = typer.Option("latest", "--recovery-point", help="recovery point id, or latest"),
             point_in_time: Optional[str] = typer.Option(
                 None, "--point-in-time", help="launch servers from their snapshots of this moment (ISO 8601, or "
                 "latest); default: latest, or the recovery point's time when one is named"),
             drill: bool = typer.Option(False, "--drill", help="recover an isolated copy, leave production alone"),
             drill_id: Optional[str] = typer.Option(
                 None, "--drill-id", help="with --drill: resume (or continue) that drill, e.g. one that was "
                 "interrupted; nothing it made is made again. Default: a new drill, drill-<UTC time>"),
             dry_run: bool = typer.Option(False, "--dry-run", help="print the ordered writes, make none"),
             yes: bool = typer.Option(False, "--yes", "-y", help="approve a real failover without asking (automation); without it "
                                      "a terminal asks, and a non-interactive run is refused"),
             as_json: bool = JSON_OPT,
             refresh: bool = typer.Option(False, "--refresh", help="ignore results cached by an earlier attempt"),
             verbose: bool = VERBOSE_OPT) -> None:
    """Run the failover flow: rebuild the workload in the recovery region from the vault alone."""
    from flows.failover import failover as flow

    if drill_id and not drill:
        _err("--drill-id resumes a drill: pass --drill too (a real failover has no drill id)")
        raise typer.Exit(2)
    loaded = _load(plan)
    approver = f"{os.environ.get('USER') or 'unknown'} (drflow failover --yes)"
    if not (drill or dry_run or yes):
        approver = _confirm_failover(loaded, recovery_point)
    if drill and not dry_run:
        drill_id = _announce_drill(drill_id, plan)
    with _watched("drill" if drill else "failover", as_json, verbose):
        report = _run_flow(flow, as_json, plan=loaded, recovery_point=recovery_point, drill=drill, dry_run=dry_run,
                           refresh=refresh, point_in_time=point_in_time, approve=True, approver=approver,
                           drill_id=drill_id)
        if report.get("drill_commands"):
            report["drill_commands"] = _drill_commands(report["drill_id"], plan)
        _emit(report, as_json)
    raise typer.Exit(2 if report.get("problems") else 1 if report.get("failed") else 0)


@app.command()
def failback(plan: Path = PLAN_OPT, as_json: bool = JSON_OPT,
             yes: bool = typer.Option(False, "--yes", "-y", help="skip the confirmation"),
             dry_run: bool = typer.Option(False, "--dry-run", help="print what would be kept, recreated and "
                                                                  "done, make no write"),
             verbose: bool = VERBOSE_OPT) -> None:
    """Run the failback flow: after a failover, bring the workload back to the primary region.

    The primary's network and IAM are re-applied from the failover's recovery point (what it lost is
    recreated), then data is copied back and DRS servers fail back; see README "Failback"."""
    from flows.failback import failback as flow

    loaded = _load(plan)
    if not (yes or dry_run):
        if not sys.stdin.isatty():
            _err("failback needs confirmation: pass --yes")
            raise typer.Exit(2)
        answer = typer.prompt(f"Fail back plan {loaded.name} into {loaded.source.region}? Type the plan name")
        if answer.strip() != loaded.name:
            _err("not confirmed; nothing done")
            raise typer.Exit(2)
    with _watched("failback", as_json, verbose):
        report = _run_flow(flow, as_json, plan=loaded, dry_run=dry_run)
        _emit(report, as_json)
    raise typer.Exit(2 if report.get("problems") else 1 if report.get("failed") else 0)


def _drill_commands(drill_id: str, plan: Path) -> dict[str, str]:
    from core.report import drill_commands

    return drill_commands(drill_id, str(plan))


def _announce_drill(drill_id: str | None, plan: Path) -> str:
    """The drill's id before it starts (on stderr): an interrupted drill prints no report, and is resumed by it."""
    from flows.cleanup import DRILL_ID_RE
    from flows.failover import new_drill_id

    drill_id = drill_id or new_drill_id()
    if DRILL_ID_RE.match(drill_id):  # otherwise the flow refuses it, naming drill_id
        _err(f"drill {drill_id}; if it is interrupted, resume it with: {_drill_commands(drill_id, plan)['resume']}")
    return drill_id


def _interactive() -> bool:
    return sys.stdin.isatty()


def _confirm_failover(plan: Plan, recovery_point: str) -> str:
    """The terminal's own approval of a real failover (the flow's pause is for runs started from the UI):
    returns who approved, or exits 2 with nothing done."""
    if not _interactive():
        _err("a real failover needs confirmation: pass --yes (or use --drill / --dry-run)")
        raise typer.Exit(2)
    # prompts on stderr: `--json > report.json` keeps stdout pure JSON
    approver = typer.prompt("Approver", default=os.environ.get("USER") or "unknown", err=True)
    if not typer.confirm(f"Fail over plan {plan.name} from recovery point {recovery_point} into "
                         f"{plan.recovery.account_id}/{plan.recovery.region} now?", default=False, err=True):
        _err("not confirmed; nothing done")
        raise typer.Exit(2)
    return f"{approver} (confirmed at the terminal)"


@app.command()
def audit(plan: Path = PLAN_OPT,
          recovery_point: str = typer.Option("", "--recovery-point", help="the recovery point whose resources to "
                                             "audit; default: the last failover's, else the newest complete one"),
          drill_id: Optional[str] = typer.Option(None, "--drill-id", help="audit that drill's resources"),
          as_json: bool = JSON_OPT, verbose: bool = VERBOSE_OPT) -> None:
    """Read the recovered resources back from the recovery side and list every string that still names the
    primary (region, account, endpoints, source ids), with resource and path. Exit 1 when any remain that the
    plan's audit.allow does not list; read-only, and it works with the primary dark."""
    from core import audit as audits
    from flows.audit import audit as flow

    loaded = _load(plan)
    with _watched("audit", as_json, verbose):
        report = _run_flow(flow, as_json, plan=loaded, recovery_point=recovery_point, drill_id=drill_id)
        if as_json:
            typer.echo(json.dumps(report, indent=2, default=str))
        else:
            typer.echo(f"drflow audit · plan {report['plan']} · recovery point {report['recovery_point']}"
                       + (f" · drill {report['drill_id']}" if report.get("drill_id") else ""))
            typer.echo("\n".join(audits.text(report["audit"])))
    raise typer.Exit(1 if report["references_to_primary"] else 0)


@app.command("recovery-points")
def recovery_points(plan: Path = PLAN_OPT, as_json: bool = JSON_OPT) -> None:
    """List the recovery points in the plan's vault, newest first."""
    from core.aws import AwsAccess
    from core.vault import Vault

    loaded = _load(plan)
    rows = Vault(AwsAccess(loaded).vault, loaded.vault_bucket, loaded.name).summaries()
    if as_json:
        typer.echo(json.dumps({"plan": loaded.name, "vault": loaded.vault_bucket, "recovery_points": rows}, indent=2))
        return
    if not rows:
        typer.echo(f"no recovery points for plan {loaded.name} in {loaded.vault_bucket}")
    for row in rows:
        typer.echo(f"{row['id']}  {row['created_at']}  {row['resources']:>5} resources  "
                   f"{'complete' if row['complete'] else 'INCOMPLETE'}  from {row['source']}")


@drill_app.command("cleanup")
def drill_cleanup(plan: Path = PLAN_OPT,
                  drill_id: str = typer.Option("all", "--drill-id", help="the drill's id (drill-<UTC time>, in the "
                                               "drill's report), or all: every drill of the plan"),
                  as_json: bool = JSON_OPT, verbose: bool = VERBOSE_OPT) -> None:
    """Remove what a drill created in the recovery region, found by its tags, dependants first.

    Only what carries the plan's drflow:plan tag and a drflow:drill tag: never production.

    Run again, it removes nothing."""
    from flows.cleanup import drill_cleanup as flow

    loaded = _load(plan)
    with _watched("drill-cleanup", as_json, verbose):
        report = _run_flow(flow, as_json, plan=loaded, drill_id=drill_id)
        if as_json:
            typer.echo(json.dumps(report, indent=2, default=str))
        else:
            which = "every drill" if report["drill_id"] == "all" else f"drill {report['drill_id']}"
            typer.echo(f"cleanup of {which} of plan {report['plan']} in {report['recovery']['region']}: "
                       f"{report['removed_count']} resource(s) removed")
            for resource_type, items in report["removed"].items():
                typer.echo(f"  {resource_type:<32} {', '.join(items)}")
            for failure in report["failed"]:
                _err(f"  FAILED {failure}")
    raise typer.Exit(1 if report.get("failed") else 0)


@plan_app.command("save")
def plan_save(plan: Path = PLAN_OPT,
              name: Optional[str] = typer.Option(None, "--name", help="the block's name (lowercase letters, digits, "
                                                 "'-'); default: the plan's name in lowercase")) -> None:
    """Validate a plan file, then save it as a drflow plan block, the name deployments pass as `plan`.

    The block holds the plan as the file has it: credential SOURCES (a profile, a role to assume, the name of a
    prefect-aws AwsCredentials block), never keys. Saving again under the same name replaces the plan."""
    from blocks.plan import PlanBlock

    loaded = _load(plan)
    block_name = name or loaded.name.lower()
    try:
        PlanBlock(plan=loaded).save(block_name, overwrite=True)
    except ValueError as exc:  # Prefect refuses the name
        _err(f"--name {block_name!r} refused: {exc}")
        raise typer.Exit(2) from None
    typer.echo(f"plan {loaded.name} saved as drflow plan block {block_name!r}: start deployments with plan={block_name}")


def _deployments_help() -> str:
    from deployments.prefect_yaml import SCHEDULE_RULE

    return ("Print the prefect.yaml of a plan's deployments: nightly replication, failover, drill, drill cleanup, "
            "failback and the RPO watch, on the work pool drflow, passing the plan by its block's name.\n\n"
            + SCHEDULE_RULE + " The RPO watch runs hourly; the others have no schedule.")


@app.command("deployments", help=_deployments_help())
def deployments_yaml(plan: Path = PLAN_OPT,
                     block: Optional[str] = typer.Option(None, "--block", help="the plan block's name (drflow plan "
                                                         "save --name); default: the plan's name in lowercase")) -> None:
    from deployments.prefect_yaml import render

    loaded = _load(plan)
    typer.echo(render(loaded, block or loaded.name.lower(), str(plan)), nl=False)


@app.command()
def runbook(plan: str = typer.Option(..., "--plan", "-p",
                                     help="the plan's NAME (its deployments are <flow>/NAME-<step>)"),
            fmt: str = typer.Option("markdown", "--format", help="markdown or json"),
            plan_file: Optional[Path] = typer.Option(None, "--plan-file", help="plan file for the recovery-order "
                                                     "diagram (default: the PlanBlock) and the CLI equivalents"),
            block: Optional[str] = typer.Option(None, "--block", help="the plan block's name the runs get as `plan` "
                                                "(drflow plan save --name); default: the plan's name in "
                                                "lowercase")) -> None:
    """Print the plan's runbook: a Prefect UI link per deployment that opens its run form filled in, the recovery
    order, who approves, a drill first, failing back; what an incident tool (PagerDuty, Opsgenie) links to.

    Deployments are read from the Prefect API by name; a missing one is listed with the command that creates it.
    Exit 1 when the Prefect API cannot be read."""
    import httpx
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    from drflow import runbook as runbooks

    if fmt not in ("markdown", "json"):
        _err(f"--format: {fmt!r} is not markdown or json")
        raise typer.Exit(2)
    if plan_file is not None:
        _load(plan_file)  # a bad file is refused here (exit 2), naming the field, before any API call
    block = block or plan.lower()
    base, source = runbooks.ui_base()
    if base is None:
        _err(f"{source}: links are relative paths; set PREFECT_UI_URL for absolute ones")
    try:
        with get_client(sync_client=True) as client:
            def read(name: str) -> Any:
                try:
                    return client.read_deployment_by_name(name)
                except ObjectNotFound:
                    return None

            order = runbooks.recovery_order(str(plan_file) if plan_file else None, block,
                                            lambda path: _load(Path(path)))
            book = runbooks.build(plan, block, read, str(plan_file) if plan_file else None, order)
    except (httpx.HTTPError, OSError) as exc:  # the API is down or refuses: say where it was looked for
        from prefect.settings import get_current_settings

        _err(f"cannot read the deployments of plan {plan} from the Prefect API "
             f"({get_current_settings().api.url or 'ephemeral'}): {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(book, indent=2) if fmt == "json" else runbooks.markdown(book))


@sandbox_app.command("up")
def sandbox_up(port: int = typer.Option(4566, help="loopback port (0: any free port)"),
               faults: Optional[str] = typer.Option(None, help="e.g. throttle=0.2,error5xx=0.05,dark=us-east-1"),
               seed: bool = typer.Option(True, help="seed the sample workload")) -> None:
    """Start moto on loopback with the sample workload; print the environment that points drflow at it."""
    import threading

    from drflow.sandbox import start_sandbox

    sandbox = start_sandbox(port=port, faults=faults, seed=seed)
    typer.echo("# drflow sandbox is up; in another shell:")
    for key, value in sandbox.env().items():
        typer.echo(f"export {key}={value}")
    typer.echo("# then: drflow replicate --plan examples/shop-plan.yaml   (Ctrl-C here stops the sandbox)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sandbox.stop()


@sandbox_app.command("faults")
def sandbox_faults(spec: Optional[str] = typer.Argument(
        None, help="the faults from now on, e.g. dark=us-east-1 or throttle=0.2,latency=0.1; \"\" for none; "
        "omitted: show the faults in force"),
        endpoint: Optional[str] = typer.Option(None, help="the sandbox's URL (default: $AWS_ENDPOINT_URL, as "
                                                         "`drflow sandbox up` prints it)")) -> None:
    """Change the faults of a running sandbox from another shell: make the primary dark after seeding and
    replicating, say, then fail over."""
    import urllib.error
    import urllib.request

    from drflow.sandbox.server import FAULTS_PATH

    base = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if not base:
        _err("no sandbox to talk to: pass --endpoint, or export AWS_ENDPOINT_URL as `drflow sandbox up` prints it")
        raise typer.Exit(2)
    data = None if spec is None else spec.encode()
    request = urllib.request.Request(base.rstrip("/") + FAULTS_PATH, data=data, method="GET" if data is None else "PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            now = answer.read().decode()
    except urllib.error.HTTPError as exc:
        _err(f"refused by the sandbox: {exc.read().decode()}")
        raise typer.Exit(2) from None
    except urllib.error.URLError as exc:
        _err(f"no sandbox at {base}: {exc.reason} (is `drflow sandbox up` running?)")
        raise typer.Exit(2) from None
    typer.echo(f"sandbox faults: {now or 'none'}")


@app.command()
def demo(faults: Optional[str] = typer.Option(None, help="inject faults, e.g. throttle=0.2"),
         as_json: bool = JSON_OPT, verbose: bool = VERBOSE_OPT) -> None:
    """Sandbox + sample workload, then replicate, then fail over with the primary region dark; print the reports."""
    from drflow.demo import run_demo

    with _watched("demo", as_json, verbose):
        code = run_demo(faults=faults, as_json=as_json, emit=_emit, run_flow=_run_flow)
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console entry point
    global _own_process
    _own_process = True  # Prefect's lines at exit go to the command's log file too (drflow/progress.py)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

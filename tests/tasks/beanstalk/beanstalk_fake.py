"""An Elastic Beanstalk account-region in memory, answering the handlers' calls through botocore's Stubber.

moto 5.2.5 has no application versions, no DescribeConfigurationSettings and no TerminateEnvironment, so a run
killed half-way cannot be replayed against the sandbox. Here each call is answered from what the calls before it
made: a create is recorded, and the describes that follow list it, so that a re-run meets exactly what a killed
run left. Every request is checked against botocore's elasticbeanstalk model (botocore.validate, as the client
does) before it changes anything, and every answer is handed to a Stubber, which checks it against the model's
output shape (errors: a code the model or the API Reference's Common Errors names). What AWS refuses is refused:
a second application, version or environment of the same name, a version whose S3 bundle is not there, an
environment of an application or version that does not exist (Elastic Beanstalk API Reference, CreateApplication,
CreateApplicationVersion, CreateEnvironment; both refusals answer InvalidParameterValue).

`interrupts(write)` decides whether a call is refused as one the killed run never made (the sandbox's
Faults.interrupts, so that Beanstalk's writes and the sandbox's S3 writes count in one sequence).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from botocore import xform_name
from botocore.stub import Stubber
from botocore.validate import validate_parameters

# the API Reference's Common Errors that these calls answer (not listed per operation in the model)
COMMON_ERRORS = ("InvalidParameterValue", "InvalidParameterCombination")
# the sandbox's code for a call the killed run never made (drflow/sandbox/faults.py): a 400 botocore does not retry
INTERRUPTED = "SandboxRunInterrupted"
READS = ("Describe", "List", "Check")
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class Call:
    operation: str
    write: bool
    succeeded: bool
    after: int  # how many calls of the other log (the sandbox's) came before this one: merges the two in order


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


class BeanstalkAccount:
    def __init__(self, account: str, region: str, bundle_exists: Callable[[str, str], bool],
                 interrupts: Callable[[bool], bool] = lambda write: False, clock: Callable[[], int] = lambda: 0):
        self.account, self.region = account, region
        self.bundle_exists, self.interrupts, self.clock = bundle_exists, interrupts, clock
        self.applications: dict[str, dict[str, Any]] = {}
        self.versions: dict[tuple[str, str], dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.calls: list[Call] = []

    # -- wiring ----------------------------------------------------------------------------------

    def attach(self, client: Any) -> Stubber:
        """Answer every call of `client` from this account (until the returned Stubber is deactivated)."""
        stubber = Stubber(client)
        stubber.activate()
        model = client.meta.service_model

        def answer(params: dict[str, Any], model: Any, **_: Any) -> None:
            validate_parameters(params, model.input_shape)  # raises before anything is recorded
            write = not model.name.startswith(READS)
            method = xform_name(model.name)
            if self.interrupts(write):
                self.calls.append(Call(model.name, write, False, self.clock()))
                stubber.add_client_error(method, INTERRUPTED, "the run was killed before this write",
                                         http_status_code=400, expected_params=params)
                return
            try:
                response = getattr(self, f"_{method}")(**copy.deepcopy(params))
            except Refused as exc:
                declared = [e.name for e in model.error_shapes]
                assert exc.code in declared or exc.code in COMMON_ERRORS, (model.name, exc.code)
                self.calls.append(Call(model.name, write, False, self.clock()))
                stubber.add_client_error(method, exc.code, str(exc), http_status_code=exc.status,
                                         expected_params=params)
                return
            self.calls.append(Call(model.name, write, True, self.clock()))
            stubber.add_response(method, response, expected_params=params)  # checked against the output shape

        assert model.service_name == "elasticbeanstalk"
        client.meta.events.register_first("provide-client-params.elasticbeanstalk.*", answer)
        return stubber

    def state(self) -> dict[str, Any]:
        """What the account holds, without the ids and times AWS gives (for comparing two runs' results)."""
        def tags(arn: str) -> list[dict[str, str]]:
            return sorted(self.tags.get(arn, []), key=lambda t: t["Key"])
        return {"applications": {n: (a.get("Description"), tags(a["ApplicationArn"]))
                                 for n, a in self.applications.items()},
                "versions": {k: (v.get("Description"), v["SourceBundle"]) for k, v in self.versions.items()},
                "environments": sorted(
                    (e["EnvironmentName"], e["ApplicationName"], e.get("VersionLabel"), e.get("CNAME"),
                     repr(e["_options"]), repr(tags(e["EnvironmentArn"])))
                    for e in self.environments.values() if e["Status"] != "Terminated")}

    # -- applications and versions ---------------------------------------------------------------

    def _arn(self, kind: str, path: str) -> str:
        return f"arn:aws:elasticbeanstalk:{self.region}:{self.account}:{kind}/{path}"

    def _application(self, name: str) -> dict[str, Any]:
        if name not in self.applications:
            raise Refused("InvalidParameterValue", f"No Application named '{name}' found.")
        return self.applications[name]

    def _create_application(self, ApplicationName: str, Tags: list | None = None, **kwargs: Any) -> dict:
        if ApplicationName in self.applications:
            raise Refused("InvalidParameterValue", f"Application {ApplicationName} already exists.")
        app = {"ApplicationName": ApplicationName, "ApplicationArn": self._arn("application", ApplicationName),
               "DateCreated": NOW, "DateUpdated": NOW, "Versions": [], "ConfigurationTemplates": [],
               **({"Description": kwargs["Description"]} if "Description" in kwargs else {})}
        self.applications[ApplicationName] = app
        self.tags[app["ApplicationArn"]] = list(Tags or [])
        return {"Application": copy.deepcopy(app)}

    def _describe_applications(self, ApplicationNames: list[str] | None = None) -> dict:
        return {"Applications": [copy.deepcopy(a) for n, a in sorted(self.applications.items())
                                 if ApplicationNames is None or n in ApplicationNames]}

    def _create_application_version(self, ApplicationName: str, VersionLabel: str, SourceBundle: dict | None = None,
                                     Process: bool = False, Description: str | None = None, **_: Any) -> dict:
        app = self._application(ApplicationName)
        if (ApplicationName, VersionLabel) in self.versions:
            raise Refused("InvalidParameterValue", f"Application Version {VersionLabel} already exists.")
        bundle = SourceBundle or {}
        if not self.bundle_exists(bundle.get("S3Bucket", ""), bundle.get("S3Key", "")):
            raise Refused("InvalidParameterCombination", f"Unable to download from S3 location (Bucket: "
                          f"{bundle.get('S3Bucket')} Key: {bundle.get('S3Key')}). Reason: Not Found")
        version = {"ApplicationName": ApplicationName, "VersionLabel": VersionLabel, "SourceBundle": bundle,
                   "ApplicationVersionArn": self._arn("applicationversion", f"{ApplicationName}/{VersionLabel}"),
                   "DateCreated": NOW, "DateUpdated": NOW, "Status": "PROCESSING" if Process else "UNPROCESSED",
                   **({"Description": Description} if Description is not None else {})}
        self.versions[(ApplicationName, VersionLabel)] = version
        app["Versions"].append(VersionLabel)
        answer = copy.deepcopy(version)
        version["Status"] = "PROCESSED" if Process else "UNPROCESSED"  # processed by the next describe
        return {"ApplicationVersion": answer}

    def _describe_application_versions(self, ApplicationName: str | None = None,
                                       VersionLabels: list[str] | None = None, **_: Any) -> dict:
        return {"ApplicationVersions": [copy.deepcopy(v) for (app, label), v in sorted(self.versions.items())
                                        if ApplicationName in (None, app)
                                        and (VersionLabels is None or label in VersionLabels)]}

    # -- environments ----------------------------------------------------------------------------

    def _create_environment(self, ApplicationName: str, EnvironmentName: str, Tags: list | None = None,
                            OptionSettings: list | None = None, VersionLabel: str | None = None,
                            CNAMEPrefix: str | None = None, **kwargs: Any) -> dict:
        self._application(ApplicationName)
        if VersionLabel and (ApplicationName, VersionLabel) not in self.versions:
            raise Refused("InvalidParameterValue", f"No Application Version named '{VersionLabel}' found.")
        live = [e for e in self.environments.values() if e["Status"] != "Terminated"]
        if any(e["EnvironmentName"] == EnvironmentName for e in live):
            raise Refused("InvalidParameterValue", f"Environment {EnvironmentName} already exists.")
        cname = f"{CNAMEPrefix}.{self.region}.elasticbeanstalk.com" if CNAMEPrefix else None
        if cname and any(e.get("CNAME") == cname for e in live):
            raise Refused("InvalidParameterValue", f"DNS name ({cname}) is not available.")
        env_id = "e-" + hashlib.sha256(f"{ApplicationName}/{EnvironmentName}/{len(self.environments)}".encode()
                                       ).hexdigest()[:10]
        env = {"EnvironmentName": EnvironmentName, "EnvironmentId": env_id, "ApplicationName": ApplicationName,
               "EnvironmentArn": self._arn("environment", f"{ApplicationName}/{EnvironmentName}"),
               "Status": "Launching", "Health": "Grey", "DateCreated": NOW, "DateUpdated": NOW,
               **{k: kwargs[k] for k in ("Description", "SolutionStackName", "PlatformArn", "Tier") if k in kwargs},
               **({"VersionLabel": VersionLabel} if VersionLabel else {}), **({"CNAME": cname} if cname else {})}
        self.environments[env_id] = {**env, "_options": sorted(OptionSettings or [], key=lambda o: (
            o["Namespace"], o["OptionName"]))}
        self.tags[env["EnvironmentArn"]] = list(Tags or [])
        self.environments[env_id]["Status"] = "Ready"  # launched by the time it is next described
        return copy.deepcopy(env)

    def _describe_environments(self, ApplicationName: str | None = None, EnvironmentIds: list[str] | None = None,
                               EnvironmentNames: list[str] | None = None, IncludeDeleted: bool = True,
                               **_: Any) -> dict:
        found = [{k: v for k, v in e.items() if not k.startswith("_")} for e in self.environments.values()
                 if ApplicationName in (None, e["ApplicationName"])
                 and (EnvironmentIds is None or e["EnvironmentId"] in EnvironmentIds)
                 and (EnvironmentNames is None or e["EnvironmentName"] in EnvironmentNames)
                 and (IncludeDeleted or e["Status"] != "Terminated")]
        return {"Environments": found}

    # -- tags ------------------------------------------------------------------------------------

    def _list_tags_for_resource(self, ResourceArn: str) -> dict:
        if ResourceArn not in self.tags:
            raise Refused("ResourceNotFoundException", f"Resource {ResourceArn} not found.", 400)
        return {"ResourceArn": ResourceArn, "ResourceTags": copy.deepcopy(self.tags[ResourceArn])}

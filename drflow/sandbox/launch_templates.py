"""EC2 launch template versions in the sandbox's moto, where drflow's drills need them to behave like AWS.

moto 5.2.5 has no DeleteLaunchTemplateVersions (drill cleanup deletes the drill's versions of a server's DRS
launch template), and its DescribeLaunchTemplateVersions returns the first 15 versions of a template with no
NextToken (drflow lists every version to find the newest one that is not a drill's). This test double adds
the first and pages the second, as the EC2 API reference describes:

- a deleted version is gone for good: not described, not usable as the default, and its number is never
  reused (version numbers keep counting up);
- the default version cannot be deleted (reported per version in UnsuccessfullyDeletedLaunchTemplateVersions,
  like any other per-version failure; the call itself succeeds), nor more than 200 versions per call.

Also: moto keeps a version's UserData from CreateLaunchTemplateVersion as the plain string it was sent (only
CreateLaunchTemplate parses it), and its Auto Scaling then fails an assertion launching from that version (a 500).
AWS takes base64 UserData alike in both calls (EC2 API reference, RequestLaunchTemplateData.UserData) and refuses
what is not base64; the double parses it as moto's CreateLaunchTemplate does.

Installed by drflow.sandbox.server (sandbox and tests only).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound, InvalidParameterValue
from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateBackend, LaunchTemplateVersion
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ec2.utils import parse_user_data

MAX_DELETE = 200
DEFAULT_PAGE = 15  # moto's own page size when MaxResults is not given

_own_get_version = LaunchTemplate.get_version
_own_create_version = LaunchTemplate.create_version
_own_modify = LaunchTemplateBackend.modify_launch_template
_own_describe = LaunchTemplateBackend.describe_launch_template_versions


def _deleted(template: LaunchTemplate) -> set[int]:
    return template.__dict__.setdefault("_drflow_deleted_versions", set())


def _create_version(self: LaunchTemplate, data: dict[str, Any], description: str) -> LaunchTemplateVersion:
    if isinstance(data.get("UserData"), (str, bytes)):
        data = {**data, "UserData": parse_user_data(data["UserData"])}
    return _own_create_version(self, data, description)


def _get_version(self: LaunchTemplate, num: Any) -> LaunchTemplateVersion:
    version = _own_get_version(self, num)
    if version.number in _deleted(self):
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
    return version


def _modify(self: LaunchTemplateBackend, default_version: str, template_name: str | None = None,
            template_id: str | None = None) -> LaunchTemplate:
    tid = self.launch_template_name_to_ids.get(template_name) if template_name else template_id
    found = self.launch_templates.get(tid or "")
    if found is not None and str(default_version).isdigit() and int(default_version) in _deleted(found):
        raise InvalidLaunchTemplateVersionNotFound(version=default_version)
    return _own_modify(self, default_version, template_name=template_name, template_id=template_id)


def _describe(self: LaunchTemplateBackend, *args: Any, **kwargs: Any) -> list[tuple[LaunchTemplate, LaunchTemplateVersion]]:
    return [(t, v) for t, v in _own_describe(self, *args, **kwargs) if v.number not in _deleted(t)]


def delete_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    name, template_id = self._get_param("LaunchTemplateName"), self._get_param("LaunchTemplateId")
    versions = [str(v) for v in self._get_param("Versions", [])]
    if not versions or len(versions) > MAX_DELETE:
        raise InvalidParameterValue(f"Versions must name 1 to {MAX_DELETE} versions")
    self.error_on_dryrun()
    template = self.ec2_backend.get_launch_template_by_name(name) if name else \
        self.ec2_backend.get_launch_template(template_id)
    done, failed = [], []
    for number in versions:
        entry = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name}
        known = number.isdigit() and 1 <= int(number) <= len(template.versions) and int(number) not in _deleted(template)
        if not known:
            failed.append({**entry, "VersionNumber": int(number) if number.isdigit() else 0, "ResponseError": {
                "Code": "launchTemplateVersionDoesNotExist", "Message": f"version {number} does not exist"}})
        elif int(number) == template.default_version_number:
            failed.append({**entry, "VersionNumber": int(number), "ResponseError": {
                "Code": "unexpectedError", "Message": "the default version of a launch template cannot be deleted"}})
        else:
            _deleted(template).add(int(number))
            done.append({**entry, "VersionNumber": int(number)})
    return ActionResult({"SuccessfullyDeletedLaunchTemplateVersions": done,
                         "UnsuccessfullyDeletedLaunchTemplateVersions": failed})


_own_describe_response = LaunchTemplates.describe_launch_template_versions


def describe_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    """moto's answer, paged with NextToken (an offset) when it lists a template's versions."""
    if self._get_param("Versions"):
        return _own_describe_response(self)
    size = self._get_int_param("MaxResults", DEFAULT_PAGE)
    token = self._get_param("NextToken") or "0"
    start = int(token) if token.isdigit() else 0
    items = self.ec2_backend.describe_launch_template_versions(
        template_name=self._get_param("LaunchTemplateName"), template_id=self._get_param("LaunchTemplateId"),
        versions=[], min_version=self._get_int_param("MinVersion"), max_version=self._get_int_param("MaxVersion"),
        max_results=10 ** 9)
    page = items[start:start + size]
    result: dict[str, Any] = {"LaunchTemplateVersions": [
        {"CreateTime": v.create_time, "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
         "DefaultVersion": t.is_default(v), "LaunchTemplateData": v.data, "LaunchTemplateId": t.id,
         "LaunchTemplateName": t.name, "VersionDescription": v.description, "VersionNumber": v.number}
        for t, v in page]}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def install() -> None:
    LaunchTemplate.get_version = _get_version
    LaunchTemplate.create_version = _create_version
    LaunchTemplateBackend.modify_launch_template = _modify
    LaunchTemplateBackend.describe_launch_template_versions = _describe
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions
    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions

"""The Resource Groups Tagging API: every tagged resource in the source region that is in the plan's scope.

Not a handler: it recovers nothing. The replication flow compares what it lists with the kinds the handlers
protect (core.coverage), so that a resource in scope that drflow cannot protect is reported, not ignored.
"""

from __future__ import annotations

from core.aws import Side, paginate


def tagged_in_scope(source: Side, scope_tags: dict[str, str]) -> list[str]:
    """ARNs of the source region's resources that carry all the scope tags (every tagged one when the scope
    names no tags). IAM is global and not listed here; its handlers find roles by their own scope rules."""
    filters = [{"Key": key, "Values": [value]} for key, value in sorted(scope_tags.items())]
    tagging = source.client("resourcegroupstaggingapi")
    return [item["ResourceARN"] for item in paginate(tagging, "get_resources", "ResourceTagMappingList",
                                                       TagFilters=filters)]

"""A VPC's network as a plain structure with ids replaced by stable labels, for comparing two sides."""

from __future__ import annotations

from typing import Any


def _name(item: dict[str, Any], fallback: str) -> str:
    return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == "Name"), fallback)


def network_state(ec2: Any, vpc_id: str) -> dict[str, Any]:
    """Everything drflow recovers in one VPC. AZs are reduced to their letter; ids to names."""
    flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    labels: dict[str, str] = {vpc_id: "vpc"}
    subnets = ec2.describe_subnets(Filters=flt)["Subnets"]
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    eigws = [g for g in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
             if any(a["VpcId"] == vpc_id for a in g.get("Attachments", []))]
    nats = [n for n in ec2.describe_nat_gateways(Filters=flt)["NatGateways"] if n["State"] == "available"]
    groups = ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
    for s in subnets:
        labels[s["SubnetId"]] = _name(s, s["SubnetId"])
    for g in igws:
        labels[g["InternetGatewayId"]] = _name(g, "igw")
    for g in eigws:
        labels[g["EgressOnlyInternetGatewayId"]] = _name(g, "eigw")
    for n in nats:
        labels[n["NatGatewayId"]] = _name(n, "nat")
    for g in groups:
        labels[g["GroupId"]] = g["GroupName"]
    endpoints = ec2.describe_vpc_endpoints(Filters=flt)["VpcEndpoints"]
    for e in endpoints:
        labels[e["VpcEndpointId"]] = _name(e, "endpoint")

    def label(value: str | None) -> str | None:
        return labels.get(value, value) if value else value

    dhcp = ec2.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])["DhcpOptions"][0]
    tables = []
    for t in ec2.describe_route_tables(Filters=flt)["RouteTables"]:
        main = any(a.get("Main") for a in t.get("Associations", []))
        routes = sorted(
            (r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") or "prefix-list",
             label(r.get("GatewayId") or r.get("NatGatewayId") or r.get("EgressOnlyInternetGatewayId")))
            for r in t["Routes"])
        tables.append({"name": "main" if main else _name(t, "?"), "routes": routes,
                       "subnets": sorted(label(a["SubnetId"]) for a in t.get("Associations", []) if a.get("SubnetId"))})
    acls = []
    for a in ec2.describe_network_acls(Filters=flt)["NetworkAcls"]:
        entries = sorted((e["RuleNumber"], e["Egress"], str(e["Protocol"]), e["RuleAction"], e.get("CidrBlock"),
                          str(e.get("PortRange"))) for e in a["Entries"])
        acls.append({"name": "default" if a["IsDefault"] else _name(a, "?"), "entries": entries,
                     "subnets": sorted(label(x["SubnetId"]) for x in a.get("Associations", []))})
    rules = []
    for g in groups:
        for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [g["GroupId"]]}])[
                "SecurityGroupRules"]:
            rules.append((g["GroupName"], r["IsEgress"], r["IpProtocol"], r.get("FromPort"), r.get("ToPort"),
                          r.get("CidrIpv4") or r.get("CidrIpv6") or label(r.get("ReferencedGroupInfo", {}).get("GroupId"))))
    return {
        "cidrs": sorted(a["CidrBlock"] for a in vpc["CidrBlockAssociationSet"]),
        "dns": {attr: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)[attr[0].upper() + attr[1:]]["Value"]
                for attr in ("enableDnsSupport", "enableDnsHostnames")},
        "dhcp": sorted((c["Key"], sorted(v["Value"] for v in c["Values"])) for c in dhcp["DhcpConfigurations"]),
        "subnets": sorted((label(s["SubnetId"]), s["CidrBlock"], s["AvailabilityZone"][-1], s["MapPublicIpOnLaunch"])
                          for s in subnets),
        "internet_gateways": sorted(label(g["InternetGatewayId"]) for g in igws),
        "egress_only_gateways": sorted(label(g["EgressOnlyInternetGatewayId"]) for g in eigws),
        "nat_gateways": sorted((label(n["NatGatewayId"]), label(n["SubnetId"])) for n in nats),
        "route_tables": sorted(tables, key=lambda t: t["name"]),
        "network_acls": sorted(acls, key=lambda a: a["name"]),
        "security_groups": sorted((g["GroupName"], g["Description"]) for g in groups),
        "security_group_rules": sorted(rules, key=str),
        "endpoints": sorted((label(e["VpcEndpointId"]), e["ServiceName"].split(".")[-1], e["VpcEndpointType"],
                             sorted(_table_name(ec2, t) for t in e.get("RouteTableIds", []))) for e in endpoints),
    }


def _table_name(ec2: Any, table_id: str) -> str:
    table = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]
    return _name(table, table_id)


def recovered_vpc(ec2: Any, source_vpc_id: str, drill_id: str | None = None) -> list[str]:
    """Ids of the recovery-side VPCs drflow made for `source_vpc_id` (production or one drill)."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:drflow:source-id", "Values": [source_vpc_id]}])["Vpcs"]
    out = []
    for v in vpcs:
        drill = next((t["Value"] for t in v.get("Tags", []) if t["Key"] == "drflow:drill"), None)
        if drill == drill_id:
            out.append(v["VpcId"])
    return out

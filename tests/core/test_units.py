"""Pure pieces: graph checks, address mapping, scope selection, content hashes, fault parsing."""

from __future__ import annotations

import pytest

from core.graph import GraphError, find_cycle, topological_order
from core.models import Resource
from core.netmap import NetworkMapper
from core.plan import Scope
from core.scope import enclosing, select
from drflow.sandbox.faults import Faults
from tasks.registry import default_registry


def test_topological_order_and_cycle_path():
    order = topological_order({"c": ["a", "b"], "a": [], "b": ["a"]})
    assert order.index("a") < order.index("b") < order.index("c")
    assert find_cycle({"x": ["y"], "y": ["z"], "z": ["x"]}) in (["x", "y", "z", "x"], ["y", "z", "x", "y"],
                                                                ["z", "x", "y", "z"])
    with pytest.raises(GraphError, match="dangling"):
        topological_order({"a": ["nope"]})


def test_network_mapper_keeps_by_default_and_moves_mapped_blocks():
    keep = NetworkMapper({}, {}, "us-west-2")
    assert keep.cidr("10.0.1.0/24") == "10.0.1.0/24" and keep.ip("10.0.1.7") == "10.0.1.7"
    assert keep.az("us-east-1c") == "us-west-2c"
    moved = NetworkMapper({"10.0.0.0/16": "10.100.0.0/16"}, {"us-east-1a": "us-west-2d"}, "us-west-2")
    assert moved.cidr("10.0.1.0/24") == "10.100.1.0/24"
    assert moved.cidr("10.0.0.0/16") == "10.100.0.0/16"
    assert moved.ip("10.0.200.9") == "10.100.200.9"
    assert moved.cidr("0.0.0.0/0") == "0.0.0.0/0" and moved.cidr("::/0") == "::/0"
    assert moved.cidr("10.1.0.0/24") == "10.1.0.0/24"
    assert moved.az("us-east-1a") == "us-west-2d" and moved.az("us-east-1b") == "us-west-2b"


def _r(type_, id_, tags=None, vpc=None, deps=()):
    return Resource(type=type_, source_id=id_, tags=tags or {}, config={"vpc": vpc} if vpc else {},
                    dependencies=list(deps))


def test_scope_brings_a_vpcs_contents_and_dependencies_only():
    resources = [
        _r("ec2:dhcp-options", "dopt-1"),
        _r("ec2:vpc", "vpc-1", {"app": "shop"}, deps=["ec2:dhcp-options/dopt-1"]),
        _r("ec2:subnet", "subnet-1", vpc="ec2:vpc/vpc-1", deps=["ec2:vpc/vpc-1"]),
        _r("ec2:vpc", "vpc-2"),
        _r("ec2:subnet", "subnet-2", vpc="ec2:vpc/vpc-2", deps=["ec2:vpc/vpc-2"]),
        _r("ec2:elastic-ip", "eip-1", {"app": "shop"}),
    ]
    holds = enclosing(default_registry())
    assert holds == {"ec2:vpc": "vpc"}
    chosen = {r.source_id for r in select(resources, Scope(tags={"app": "shop"}), holds)}
    assert chosen == {"dopt-1", "vpc-1", "subnet-1", "eip-1"}
    only_eips = {r.source_id for r in select(resources, Scope(tags={"app": "shop"}, resource_types=["ec2:elastic-ip"]),
                                             holds)}
    assert only_eips == {"eip-1"}


def test_content_hash_follows_content_not_order():
    a = Resource(type="t", source_id="1", config={"x": 1, "y": [1, 2]}, dependencies=["b", "a"])
    b = Resource(type="t", source_id="1", config={"y": [1, 2], "x": 1}, dependencies=["a", "b"])
    assert a.content_hash == b.content_hash
    assert a.content_hash != a.model_copy(update={"config": {"x": 2, "y": [1, 2]}}).content_hash


def test_fault_spec_parsing():
    faults = Faults.parse("throttle=0.2,error5xx=0.05,dark=us-east-1,seed=3")
    assert faults.throttle == 0.2 and faults.error5xx == 0.05 and faults.dark == {"us-east-1"}
    assert faults.pick("us-east-1") == "dark"
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.parse("explode=1")
    with pytest.raises(ValueError, match="fraction"):
        Faults.parse("throttle=2")


def test_tcp_health_check_waits_for_the_port_and_gives_up_at_its_timeout():
    import socket
    import threading
    import time

    from tasks.servers.instances import tcp_ready

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    assert not tcp_ready("127.0.0.1", port, timeout=0.5, interval=0.1)

    def listen_later():
        time.sleep(0.3)
        server.bind(("127.0.0.1", port))
        server.listen()

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    threading.Thread(target=listen_later).start()
    try:
        assert tcp_ready("127.0.0.1", port, timeout=5, interval=0.1)
    finally:
        server.close()

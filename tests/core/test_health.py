"""The traffic phase's health gate (core/health.py): one deadline over several checks, reasons at the end."""

from __future__ import annotations

from core.health import wait_healthy
from core.plan import Traffic


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waits_until_every_dependency_is_healthy_and_asks_a_healthy_one_no_more():
    clock, asked = FakeClock(), []
    healthy_at = {"lb": 40.0, "api": 0.0}

    def health_of(key):
        asked.append(key)
        return None if clock.now >= healthy_at[key] else f"{key}: 0 of 2 targets healthy"

    wait = wait_healthy(["lb", "api"], health_of, timeout=300, poll=15, sleep=clock.sleep, clock=clock)
    assert wait.healthy and wait.unhealthy == {}
    assert clock.sleeps == [1, 2, 4, 8, 15, 15]  # looks a second apart at first, then every `poll` seconds
    assert wait.seconds == 45.0 and wait.looks == 7
    assert asked.count("api") == 1 and asked.count("lb") == 7


def test_gives_up_at_the_deadline_naming_what_is_still_unhealthy():
    clock = FakeClock()
    wait = wait_healthy(["lb"], lambda key: "target group web: 0 of 1 targets healthy (1 unhealthy)",
                        timeout=20, poll=15, sleep=clock.sleep, clock=clock)
    assert not wait.healthy
    assert wait.unhealthy == {"lb": "target group web: 0 of 1 targets healthy (1 unhealthy)"}
    assert clock.sleeps == [1, 2, 4, 8, 5] and wait.seconds == 20.0  # never sleeps past the deadline


def test_a_zero_timeout_is_one_look():
    clock = FakeClock()
    wait = wait_healthy(["lb"], lambda key: "initial", timeout=0, poll=15, sleep=clock.sleep, clock=clock)
    assert wait.looks == 1 and clock.sleeps == [] and wait.unhealthy == {"lb": "initial"}


def test_traffic_modes_per_record_win_over_the_zone_and_the_default():
    traffic = Traffic(mode="none", zones={"Shop.Example.": "report"},
                      records={"www.shop.example A": "cutover", "api.shop.example": "none"})
    assert traffic.mode_for("shop.example.") == "report"
    assert traffic.mode_for("shop.example", "WWW.shop.example.", "A") == "cutover"
    assert traffic.mode_for("shop.example", "www.shop.example", "AAAA") == "report"  # the type was named
    assert traffic.mode_for("shop.example", "api.shop.example.", "CNAME") == "none"
    assert traffic.mode_for("other.example") == "none"

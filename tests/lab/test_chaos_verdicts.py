"""lab chaos's verdict on each step and its figures, from probe traces made up here (the
same steps on a real lab: tests/lab/test_chaos.py): a fault that loses anything fails,
unless its flows die with it (ovs-vswitchd) or a VM moved meanwhile, which pass when the
traffic came back; how long after the component was up it was back."""

from __future__ import annotations

from collections.abc import Collection

from ctrl.lab.chaos import ChaosStep, table, traffic_back
from ctrl.lab.faults import FaultResult
from ctrl.lab.moves import Migration
from ctrl.lab.report import Arrival, Report, TcpTrace, UdpTrace, build_report

ORIGIN = 100.0   # the probe's time 0, as a time.monotonic() reading
RATE = 1000.0


def report(lost: Collection[int], duration: float = 3.0) -> Report:
    """1,000 datagrams a second each way for `duration` s, those of `lost` missing; TCP
    whole."""
    n = int(duration * RATE)
    sends = [i / RATE for i in range(n)]
    arrivals = [Arrival(i, t, t + 0.0002) for i, t in enumerate(sends) if i not in lost]
    udp = [UdpTrace(d, RATE, sends, arrivals) for d in ("a -> b", "b -> a")]
    tcp = [TcpTrace(d, 1e6, 0, None, None, [], in_order=True, eof=True)
           for d in ("a -> b", "b -> a")]
    return build_report(a="a", b="b", started="", duration_s=duration, udp=udp, tcp=tcp)


def fault(component: str) -> FaultResult:
    # killed at 0.5 s, up again at 0.6 s, in sync at 1.2 s (probe time)
    return FaultResult(component, ORIGIN + 0.5, ORIGIN + 0.6, ORIGIN + 1.2)


def step(component: str, r: Report, moved: bool = False) -> ChaosStep:
    f = fault(component)
    m = Migration("vm2", "server3", "server1", False, ORIGIN + 0.5, ORIGIN + 0.7,
                  ORIGIN + 0.71) if moved else None
    return ChaosStep(f"kill -9 {component}", r, fault=f, migration=m,
                     back_s=traffic_back(r, ORIGIN, f), found_s=0.3 if moved else None)


def test_a_fault_that_loses_nothing_passes_and_one_that_loses_fails() -> None:
    quiet = step("ovs-target:a", report(range(0)))
    assert quiet.ok and quiet.lost == 0 and quiet.back_s is None
    lossy = step("ovs-target:a", report(range(700, 720)))
    assert not lossy.ok and lossy.lost == 40


def test_ovs_vswitchd_passes_when_the_traffic_comes_back_and_says_when() -> None:
    back = step("vswitchd:a", report(range(500, 900)))   # lost from its kill to 0.9 s
    assert back.loses_its_flows and back.back and back.ok
    assert back.back_s is not None and abs(back.back_s - 0.3) < 1e-6   # 0.9 s - up at 0.6
    never = step("vswitchd:a", report(range(500, 3000)))   # lost to the end
    assert not never.back and not never.ok
    assert "NEVER" in table([never])[1]
    assert never.to_json()["traffic_back_after_up_s"] is not None


def test_a_vm_moved_while_the_controller_was_down_passes_once_found() -> None:
    moved = step("controller", report(range(500, 1500)), moved=True)
    assert moved.moved_meanwhile and moved.ok
    assert moved.to_json()["moved_converged_after_up_s"] == 0.3
    assert not step("controller", report(range(500, 3000)), moved=True).ok


def test_only_the_loss_that_spans_the_return_says_when_it_was_back() -> None:
    f = fault("vswitchd:a")
    assert traffic_back(report(range(100, 200)), ORIGIN, f) is None   # before the kill
    assert traffic_back(report(range(520, 560)), ORIGIN, f) is None   # over before it was up
    later = report([*range(500, 700), *range(2000, 2050)])   # and a later loss of its own
    back = traffic_back(later, ORIGIN, f)
    assert back is not None and abs(back - 0.1) < 1e-6

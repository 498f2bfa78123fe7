"""Fixtures of the integration tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dora_supervisor import cgroups
from tests.conftest import dora
from tests.integration.cluster import Daemon, TcpProxy, free_port, up_listening


@pytest.fixture
def background(control_dirs):
    """A background coordinator for the test (`dora up`), destroyed at its end."""
    started = dora("up")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("dora: coordinator started (pid ")
    yield control_dirs
    dora("destroy")


@pytest.fixture(params=["cgroup", "sampling"])
def enforced_by(request, monkeypatch) -> str:
    """The mechanism the run must use, as its records will name it (processes started
    after this fixture inherit the choice: `dora run`, a coordinator, its daemons)."""
    if request.param == "sampling":
        monkeypatch.setenv(cgroups.CGROUPS_ENV, "off")
        return "sampling"
    monkeypatch.delenv(cgroups.CGROUPS_ENV, raising=False)
    offer = cgroups.probe()
    if offer is None:
        pytest.skip("this machine lets us create no cgroups: only sampling is tested")
    return offer.version.value


@pytest.fixture
def cluster(tmp_path, control_dirs):
    """A listening background coordinator; `daemon(machine, via_proxy)` adds a daemon."""
    port = free_port()
    endpoint = f"tcp/127.0.0.1:{port}"
    up_listening(endpoint)
    daemons: list[Daemon] = []
    proxies: list[TcpProxy] = []

    def daemon(machine: str, via_proxy: bool = False) -> Daemon:
        target = endpoint
        if via_proxy:
            proxies.append(TcpProxy(port))
            target = f"tcp/127.0.0.1:{proxies[-1].port}"
        daemons.append(Daemon(machine, [target], tmp_path))
        return daemons[-1]

    yield SimpleNamespace(endpoint=endpoint, daemon=daemon, proxies=proxies, daemons=daemons)
    dora("destroy")
    for each in daemons:
        each.kill()
    for proxy in proxies:
        proxy.close()

"""Finding our cgroups in /proc/self/mountinfo and /proc/self/cgroup, and what an offer
means for the records."""

from __future__ import annotations

from dora_supervisor import cgroups
from dora_supervisor.cgroups import Offer, parse_membership, parse_mountinfo
from dora_supervisor.samples import Enforcement, Enforcer

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
CONTAINER = """\
600 590 0:40 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
601 590 0:41 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct
"""


def test_mountinfo_gives_each_cgroup_mount_with_its_root_and_controllers():
    assert parse_mountinfo(HYBRID) == [
        ("/", "/sys/fs/cgroup/cpu", "cgroup", frozenset({"rw", "cpu"})),
        ("/", "/sys/fs/cgroup/cpuacct", "cgroup", frozenset({"rw", "cpuacct"})),
        ("/", "/sys/fs/cgroup/memory", "cgroup", frozenset({"rw", "memory"})),
        ("/", "/sys/fs/cgroup/unified", "cgroup2", frozenset({"rw"})),
    ]
    assert parse_mountinfo(CONTAINER)[1][3] == frozenset({"rw", "cpu", "cpuacct"})


def test_membership_maps_each_controller_and_the_v2_hierarchy():
    text = "9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user.slice/a\n"
    assert parse_membership(text) == {"name=systemd": "/", "memory": "/process_api/x",
                                      "cpu": "/", "cpuacct": "/", "": "/user.slice/a"}


def test_our_directory_is_found_under_a_mount_of_a_subtree():
    assert cgroups._own_dir("/", "/sys/fs/cgroup/memory", "/process_api/x") \
        == "/sys/fs/cgroup/memory/process_api/x"
    assert cgroups._own_dir("/docker/abc", "/sys/fs/cgroup/memory", "/docker/abc/sub") \
        == "/sys/fs/cgroup/memory/sub"
    assert cgroups._own_dir("/docker/abc", "/sys/fs/cgroup/memory", "/elsewhere") is None


def test_an_offer_says_per_limit_who_enforces_it():
    full = Offer(Enforcer.CGROUP_V1, memory="/m", cpuacct="/a", cpu="/c")
    assert full.enforcement == Enforcement(Enforcer.CGROUP_V1, Enforcer.CGROUP_V1, True)
    memory_only = Offer(Enforcer.CGROUP_V2, memory="/u")
    assert memory_only.enforcement == Enforcement(Enforcer.CGROUP_V2, Enforcer.SAMPLING, False)


def test_cgroups_off_means_sampling_whatever_the_machine_offers():
    assert cgroups.probe({cgroups.CGROUPS_ENV: "off"}) is None
    assert cgroups.probe({cgroups.CGROUPS_ENV: " OFF "}) is None

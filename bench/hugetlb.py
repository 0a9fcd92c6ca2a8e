"""crun's fix for this cgroup-v1 hybrid host, shared by the benchmarks: crun refuses to run
while hugetlb is attached to the cgroup2 mount ("cgroups in hybrid mode not supported"), so a
v1 hugetlb hierarchy is mounted for the run and removed afterwards
(shared/research/engine-baseline.md). Cgroups made in it while mounted would keep it alive
after the unmount, so every cgroup in it (all made during the run) is removed first."""

import os
import subprocess
import sys
import time

HUGETLB = "/sys/fs/cgroup/hugetlb"


def mount():
    """Mounts the v1 hierarchy unless it is there; returns whether this call mounted it."""
    if os.path.ismount(HUGETLB):
        return False
    os.makedirs(HUGETLB, exist_ok=True)
    subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", HUGETLB], check=True)
    return True


def _remove_children_and_unmount():
    for dirpath, _, _ in sorted(os.walk(HUGETLB), key=lambda w: -len(w[0])):
        if dirpath != HUGETLB:
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
    subprocess.run(["umount", HUGETLB])
    try:
        os.rmdir(HUGETLB)
    except OSError:
        pass


def unmount():
    """Removes the cgroups made in it, then the mount and its directory. Dead processes not
    yet reaped (this machine's init reaps late) keep the unmounted hierarchy alive: then it
    is mounted again and unmounted once they are gone."""
    _remove_children_and_unmount()
    for _ in range(3):
        deadline = time.time() + 5
        while time.time() < deadline:
            if v1_hierarchy() == 0:
                return
            time.sleep(0.1)
        os.makedirs(HUGETLB, exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", HUGETLB])
        _remove_children_and_unmount()
    print("warning: the v1 hugetlb hierarchy outlived its unmount; hugetlb is not back on "
          "cgroup2 (mount it again, remove its child cgroups, unmount)", file=sys.stderr)


def v1_hierarchy():
    """hugetlb's hierarchy id in /proc/cgroups (0: attached to cgroup2)."""
    for line in open("/proc/cgroups"):
        f = line.split()
        if f and f[0] == "hugetlb":
            return int(f[1])
    return 0

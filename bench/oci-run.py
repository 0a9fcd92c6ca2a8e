#!/usr/bin/env python3
"""Container start-to-exit latency: `wharf oci run` of a busybox bundle running /bin/true,
interleaved with `crun run` and `runc run` of the same bundle and a bare
`unshare -mpfiun chroot ROOTFS /bin/true`. Prints each runner's median, p10-p90 and the ratio
to the others. Run as root from the repository root:

    sudo bench/oci-run.py [--runs 30] [--wharf target/release/wharf] [--crun-hugetlb-fix]

On a cgroup-v1 hybrid host whose cgroup2 mount carries hugetlb, crun refuses to run
("cgroups in hybrid mode not supported"). --crun-hugetlb-fix mounts a v1 hugetlb hierarchy
for the duration of the run (the fix described in shared/research/engine-baseline.md) and
unmounts it afterwards; without it crun is reported as refused. Run nothing else that creates
containers meanwhile: cgroups made in the hugetlb hierarchy while it is mounted keep it alive
after the unmount (hugetlb then stays off cgroup2 until they are removed, which means mounting
it again and removing them).

Fairness: moving a process into a cgroup waits for an RCU grace period unless another
migration happened within about one grace period before, so a runtime that follows another
one back to back starts warm. Each round therefore runs the runners in a shuffled order with a
pause (--gap-ms) before every run, so that every run starts cold, as a lone `run` does.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hugetlb  # noqa: E402



def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def make_bundle(wharf, root):
    bundle = os.path.join(root, "bundle")
    sh("sh", "scripts/busybox-rootfs.sh", "-b", bundle, env={**os.environ, "WHARF": wharf})
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["ociVersion"] = "1.0.2"  # crun 1.8.1 refuses newer versions
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    # Every runtime gets the same limits, so all of them create cgroups.
    spec["linux"]["resources"]["pids"] = {"limit": 64}
    with open(path, "w") as f:
        json.dump(spec, f)
    return bundle


def runners(args, bundle, state):
    rootfs = os.path.join(bundle, "rootfs")
    out = {
        "bare": lambda i: ["unshare", "-mpfiun", "chroot", rootfs, "/bin/true"],
        "wharf": lambda i: [args.wharf, "oci", "--root", os.path.join(state, "wharf"), "run",
                            "--bundle", bundle, "bench-wharf-%d" % i],
    }
    for rt in ("crun", "runc"):
        exe = shutil.which(rt)
        if exe:
            out[rt] = (lambda exe, rt: lambda i: [exe, "--root", os.path.join(state, rt), "run",
                                                  "--bundle", bundle, "bench-%s-%d" % (rt, i)])(exe, rt)
    return out


def time_one(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = (time.perf_counter() - t) * 1000
    return dt, p.returncode, p.stderr.decode(errors="replace").strip()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--wharf", default="target/release/wharf")
    ap.add_argument("--crun-hugetlb-fix", action="store_true")
    ap.add_argument("--gap-ms", type=int, default=100, help="pause before each run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/oci-run.py: needs root")
    args.wharf = os.path.abspath(args.wharf)
    if not os.path.exists(args.wharf):
        sh("cargo", "build", "--release", "-p", "wharf")
    mounted_hugetlb = args.crun_hugetlb_fix and hugetlb.mount()
    tmp = tempfile.mkdtemp(prefix="wharf-bench-")
    try:
        bundle = make_bundle(args.wharf, tmp)
        state = os.path.join(tmp, "state")
        rs = runners(args, bundle, state)
        times = {name: [] for name in rs}
        refused = {}
        for name, mk in rs.items():  # warm-up, and find out who refuses to run here
            _, rc, err = time_one(mk(-1))
            if rc != 0:
                refused[name] = err.splitlines()[-1] if err else "exit %d" % rc
        rng = random.Random(42)
        for i in range(args.runs):  # interleaved: one run of each per round, shuffled
            order = list(rs.items())
            rng.shuffle(order)
            for name, mk in order:
                if name in refused:
                    continue
                time.sleep(args.gap_ms / 1000)
                dt, rc, err = time_one(mk(i))
                if rc != 0:
                    refused[name] = err.splitlines()[-1] if err else "exit %d" % rc
                    continue
                times[name].append(dt)
        load = open("/proc/loadavg").read().split()[0]
        print("container run of /bin/true, %d shuffled rounds, %d ms apart, load %s"
              % (args.runs, args.gap_ms, load))
        med = {}
        for name, xs in times.items():
            if name in refused or not xs:
                print("  %-6s refused: %s" % (name, refused.get(name, "no runs")))
                continue
            med[name] = statistics.median(xs)
            print("  %-6s median %7.2f ms   p10-p90 %6.2f-%6.2f ms   (n=%d)"
                  % (name, med[name], pct(xs, 0.1), pct(xs, 0.9), len(xs)))
        if "wharf" in med:
            for peer in ("bare", "crun", "runc"):
                if peer in med:
                    print("  wharf / %-5s = %.2f" % (peer, med["wharf"] / med[peer]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if mounted_hugetlb:
            hugetlb.unmount()


if __name__ == "__main__":
    main()

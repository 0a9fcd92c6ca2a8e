#!/usr/bin/env python3
"""Image builds: the 5-step Dockerfile of ../shared/research/engine-baseline.md §4f (FROM busybox,
COPY a 50 MiB file, COPY a small file, a RUN over the big file, CMD) built cold (--no-cache),
fully cached, and with the small file changed, by Wharf (through `wharf build` and through the
docker CLI 28) and, when Debian's docker.io is installed, by dockerd 20.10's legacy builder and
BuildKit (through Debian's 20.10 CLI), interleaved in shuffled rounds. Prints medians and ratios.
Run as root from the repository root:

    sudo bench/build.py [--runs 10] [--wharf target/release/wharf] [--no-dockerd]

As in bench/network.py, Wharf uses a bridge and nftables table of its own names and dockerd runs
inside a network namespace made for it; both are stopped and their roots removed at the end.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import (DOCKER, busybox_tarball, cleanup, pct, sh, start_dockerd_in_netns,  # noqa: E402
                    start_wharf_isolated, time_one)

NETNS = "wbb-dockerd"
DOCKER20 = "/usr/bin/docker"
DOCKERFILE = """FROM busybox
COPY big.bin /data/big.bin
COPY app.txt /app/app.txt
RUN md5sum /data/big.bin > /data/big.md5 && echo built > /built
CMD ["cat", "/app/app.txt"]
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--wharf", default="target/release/wharf")
    ap.add_argument("--no-dockerd", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/build.py: needs root")
    args.wharf = os.path.abspath(args.wharf)
    if not os.path.exists(args.wharf):
        sh("cargo", "build", "--release", "-p", "wharf")
    tmp = tempfile.mkdtemp(prefix="wbb-", dir="/tmp")
    procs, engines, netns_made = [], [], False
    try:
        tarball = busybox_tarball(tmp)
        ctx = os.path.join(tmp, "buildctx")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "big.bin"), "wb") as f:
            f.write(os.urandom(50 << 20))
        open(os.path.join(ctx, "Dockerfile"), "w").write(DOCKERFILE)
        app = os.path.join(ctx, "app.txt")
        open(app, "w").write("v1\n")

        wharf = start_wharf_isolated(args.wharf, tmp, "wbb")
        procs.append(wharf.proc)
        engines.append(wharf)
        dockerd = None
        if not args.no_dockerd and shutil.which("dockerd") and os.path.exists(DOCKER20):
            netns_made = True
            dockerd = start_dockerd_in_netns(tmp, NETNS)
            procs.append(dockerd.proc)
            engines.append(dockerd)
        for e in engines:
            e.docker("import", "-c", 'CMD ["/bin/sh"]', tarball, "busybox")

        def env(e, **kw):
            return {**e.env, **kw}

        # name -> (command, env, prepare for cold, prepare for one-file)
        builders = {
            "wharf build": ([args.wharf, "build", "-q", "-t", "bench:w", ctx], env(wharf),
                            [args.wharf, "image", "prune", "-f"]),
            "docker28 -> wharf": ([DOCKER, "build", "-q", "-t", "bench:d", ctx], env(wharf),
                                  [DOCKER, "image", "prune", "-f"]),
        }
        if dockerd:
            builders["legacy 20.10"] = ([DOCKER20, "build", "-q", "-t", "bench:l", ctx],
                                        env(dockerd, DOCKER_BUILDKIT="0"), [DOCKER20, "image", "prune", "-f"])
            builders["buildkit 20.10"] = ([DOCKER20, "build", "-q", "-t", "bench:b", ctx],
                                          env(dockerd, DOCKER_BUILDKIT="1"), [DOCKER20, "builder", "prune", "-af"])
        refused = {}
        for name, (cmd, e, _) in builders.items():
            _, rc, err = time_one(cmd, e)
            if rc != 0:
                refused[name] = (err.splitlines() or ["exit %d" % rc])[-1]
        scenarios = ("cold", "cached", "one file")
        times = {(n, s): [] for n in builders for s in scenarios}
        rng = random.Random(5)
        for _ in range(args.runs):
            order = [(n, s) for n in builders for s in scenarios]
            rng.shuffle(order)
            for name, scen in order:
                if name in refused:
                    continue
                cmd, e, prep = builders[name]
                if scen == "cold":
                    subprocess.run(prep, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    run = cmd[:2] + (["--no-cache"] if "buildkit" not in name else []) + cmd[2:]
                else:
                    # Bring the cache to the state the scenario starts from.
                    subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    run = cmd
                if scen == "one file":
                    open(app, "w").write("%d\n" % time.time_ns())
                time.sleep(0.1)
                dt, rc, err = time_one(run, e)
                if rc != 0:
                    refused[name] = (err.splitlines() or ["exit %d" % rc])[-1]
                    continue
                times[(name, scen)].append(dt)
        print("docker build of the §4f Dockerfile (50 MiB COPY, small COPY, RUN md5sum, CMD): "
              "%d shuffled rounds, load %s" % (args.runs, open("/proc/loadavg").read().split()[0]))
        med = {}
        for scen in scenarios:
            print(" %s:" % scen)
            for name in builders:
                xs = times[(name, scen)]
                if name in refused or not xs:
                    print("  %-18s refused: %s" % (name, refused.get(name, "no runs")))
                    continue
                med[(name, scen)] = statistics.median(xs)
                print("  %-18s median %7.1f ms   p10-p90 %7.1f-%7.1f ms   (n=%d)"
                      % (name, med[(name, scen)], pct(xs, 0.1), pct(xs, 0.9), len(xs)))
            for ours in ("wharf build", "docker28 -> wharf"):
                for peer in ("buildkit 20.10", "legacy 20.10"):
                    if (ours, scen) in med and (peer, scen) in med:
                        print("  %s / %s = %.2f" % (ours, peer, med[(ours, scen)] / med[(peer, scen)]))
    finally:
        cleanup(engines, procs, tmp)
        if netns_made:
            subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()

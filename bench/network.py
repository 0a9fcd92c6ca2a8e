#!/usr/bin/env python3
"""What the network costs: `run --rm busybox true` on the default bridge against `--network
none`, interleaved in shuffled rounds, for Wharf and (when Debian's docker.io is installed) for
dockerd; then the throughput of a 1 GiB transfer into a container through a published port on
127.0.0.1, against the same transfer between two host processes on loopback. Prints medians
and ratios. Run as root from the repository root:

    sudo bench/network.py [--runs 20] [--wharf target/release/wharf] [--gib 1] [--no-dockerd]

Nothing touches the host's own network: Wharf runs with a bridge and an nftables table of its
own names (wnb0, table ip wnb), a pool from 10.123.0.0/16 and a loopback-only resolver, and
removes them when it stops; dockerd runs inside a network namespace made for it (its docker0,
iptables rules and forwarding live and die there).
"""

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import (DOCKER, busybox_tarball, cleanup, pct, sh, start_dockerd_in_netns,  # noqa: E402
                    start_wharf_isolated, time_one)

NETNS = "wnb-dockerd"


def transfer(port, gib):
    """Sends `gib` GiB to 127.0.0.1:port and waits for the receiver to close; returns seconds."""
    chunk = b"\0" * (1 << 20)
    deadline = time.time() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    t = time.perf_counter()
    for _ in range(int(gib * 1024)):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    dt = time.perf_counter() - t
    s.close()
    return dt


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--wharf", default="target/release/wharf")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--no-dockerd", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/network.py: needs root")
    args.wharf = os.path.abspath(args.wharf)
    if not os.path.exists(args.wharf):
        sh("cargo", "build", "--release", "-p", "wharf")
    tmp = tempfile.mkdtemp(prefix="wnb-", dir="/tmp")
    procs, engines, netns_made = [], [], False
    try:
        tarball = busybox_tarball(tmp)
        wharf = start_wharf_isolated(args.wharf, tmp, "wnb")
        procs.append(wharf.proc)
        engines.append(wharf)
        if not args.no_dockerd and shutil.which("dockerd"):
            netns_made = True
            dockerd = start_dockerd_in_netns(tmp, NETNS)
            procs.append(dockerd.proc)
            engines.append(dockerd)
        for e in engines:
            e.docker("import", "-c", 'CMD ["/bin/sh"]', tarball, "busybox")

        runners = {}
        for e in engines:
            for net in ("bridge", "none"):
                runners["%s %s" % (e.name, net)] = ([DOCKER, "run", "--rm", "--network", net, "busybox", "true"],
                                                    e.env)
        refused, times = {}, {n: [] for n in runners}
        for name, (cmd, env) in runners.items():
            _, rc, err = time_one(cmd, env)
            if rc != 0:
                refused[name] = (err.splitlines() or ["exit %d" % rc])[-1]
        rng = random.Random(11)
        for _ in range(args.runs):
            order = list(runners.items())
            rng.shuffle(order)
            for name, (cmd, env) in order:
                if name in refused:
                    continue
                time.sleep(0.1)
                dt, rc, err = time_one(cmd, env)
                if rc != 0:
                    refused[name] = (err.splitlines() or ["exit %d" % rc])[-1]
                    continue
                times[name].append(dt)
        print("docker run --rm busybox true, bridge vs none: %d shuffled rounds, load %s"
              % (args.runs, open("/proc/loadavg").read().split()[0]))
        med = {}
        for name, xs in times.items():
            if name in refused or not xs:
                print("  %-16s refused: %s" % (name, refused.get(name, "no runs")))
                continue
            med[name] = statistics.median(xs)
            print("  %-16s median %7.1f ms   p10-p90 %6.1f-%6.1f ms   (n=%d)"
                  % (name, med[name], pct(xs, 0.1), pct(xs, 0.9), len(xs)))
        for e in engines:
            b, n = med.get(e.name + " bridge"), med.get(e.name + " none")
            if b and n:
                print("  %-8s the bridge network adds %6.1f ms (bridge/none = %.2f)" % (e.name, b - n, b / n))
        if "wharf bridge" in med and "dockerd bridge" in med:
            print("  wharf bridge / dockerd bridge = %.2f" % (med["wharf bridge"] / med["dockerd bridge"]))

        # Throughput: into a container through a published port, and host to host.
        port = free_port()
        cid = wharf.docker("run", "-d", "-p", "127.0.0.1:%d:5001" % port, "busybox", "sh", "-c",
                           "while true; do nc -l -p 5001 > /dev/null; done").stdout.decode().strip()
        time.sleep(0.3)
        published = [transfer(port, args.gib) for _ in range(3)]
        wharf.docker("rm", "-f", cid)
        hport = free_port()
        busybox = shutil.which("busybox") or "/bin/busybox"
        host = []
        for _ in range(3):
            srv = subprocess.Popen(["sh", "-c", "exec %s nc -l -p %d > /dev/null" % (busybox, hport)])
            time.sleep(0.2)
            host.append(transfer(hport, args.gib))
            srv.wait(30)
        gib = args.gib
        bp, bh = min(published), min(host)
        print("%.1f GiB through busybox nc (best of 3):" % gib)
        print("  published port 127.0.0.1 -> container  %6.2f s  %7.0f MiB/s" % (bp, gib * 1024 / bp))
        print("  host to host on loopback               %6.2f s  %7.0f MiB/s" % (bh, gib * 1024 / bh))
        print("  published / loopback throughput = %.2f" % (bh / bp))
    finally:
        cleanup(engines, procs, tmp)
        if netns_made:
            subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()

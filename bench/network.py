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
from engine import DOCKER, Engine, cleanup, pct, sh, time_one, wait_socket  # noqa: E402

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
        rootfs = os.path.join(tmp, "rootfs")
        sh("sh", "scripts/busybox-rootfs.sh", rootfs, stdout=subprocess.DEVNULL)
        tarball = os.path.join(tmp, "busybox.tar")
        sh("tar", "-C", rootfs, "-cf", tarball, ".")
        resolv = os.path.join(tmp, "resolv.conf")
        open(resolv, "w").write("nameserver 127.0.0.1\n")

        sock = os.path.join(tmp, "wharf.sock")
        p = subprocess.Popen([args.wharf, "daemon", "--data-root", os.path.join(tmp, "wdata"),
                              "--exec-root", os.path.join(tmp, "wexec"), "-H", "unix://" + sock,
                              "--bridge", "wnb0", "--nft-table", "wnb", "--resolv-conf", resolv,
                              "--default-address-pool", "base=10.123.0.0/16,size=24", "--log-level", "warn"],
                             stderr=open(os.path.join(tmp, "wharf.log"), "w"))
        procs.append(p)
        wait_socket(sock, p, "wharf daemon")
        wharf = Engine("wharf", sock, p)
        engines.append(wharf)
        dockerd = None
        if not args.no_dockerd and shutil.which("dockerd"):
            sh("ip", "netns", "add", NETNS)
            netns_made = True
            sh("ip", "-n", NETNS, "link", "set", "lo", "up")
            dsock = os.path.join(tmp, "dockerd.sock")
            d = os.path.join(tmp, "docker")
            # nsenter joins only the network namespace (ip netns exec would remount /sys and hide
            # the cgroup hierarchies from dockerd).
            p = subprocess.Popen(["nsenter", "--net=/run/netns/" + NETNS, "dockerd", "--data-root", d + "/data",
                                  "--exec-root", d + "/exec", "-H", "unix://" + dsock, "--pidfile", d + "/pid",
                                  "--containerd-namespace", "wnb", "--containerd-plugins-namespace", "wnbp"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "dockerd.log"), "w"))
            procs.append(p)
            try:
                wait_socket(dsock, p, "dockerd", timeout=60)
            except SystemExit:
                print(open(os.path.join(tmp, "dockerd.log")).read()[-2000:])
                raise
            dockerd = Engine("dockerd", dsock, p)
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

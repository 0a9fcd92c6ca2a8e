#!/usr/bin/env python3
"""The engine end to end: `run --rm busybox true` through `wharf daemon` (with the real docker
CLI, and with `wharf run`), interleaved in shuffled rounds with `crun run` of a bundle and, when
Debian's docker.io is installed, the same docker command through dockerd. Then 50 detached
`run -d busybox sleep 600` (8 at a time) until all run, and their removal with one `rm -f`.
Prints medians and ratios. Run as root from the repository root:

    sudo bench/engine.py [--runs 20] [--wharf target/release/wharf] [--crun-hugetlb-fix] [--no-dockerd]

dockerd is started with its own data and exec roots and without touching the host's network
(--bridge=none --iptables=false --ip-forward=false), and its containers run with
--network none, as do Wharf's (a namespace with loopback only, the same work; bench/network.py
measures the bridge network). --crun-hugetlb-fix mounts a v1 hugetlb hierarchy for the run (see
bench/oci-run.py) and removes it afterwards.
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hugetlb  # noqa: E402

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def wait_socket(path, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("%s exited early (status %s)" % (what, proc.returncode))
        r = subprocess.run(["curl", "-sf", "--unix-socket", path, "http://x/_ping"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return
        time.sleep(0.02)
    sys.exit("%s did not answer on %s" % (what, path))


def time_one(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    return (time.perf_counter() - t) * 1000, p.returncode, p.stderr.decode(errors="replace").strip()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def rss_kb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Engine:
    """A daemon under test: its socket, its env for the docker CLI, its process."""

    def __init__(self, name, sock, proc, extra_run=()):
        self.name, self.sock, self.proc, self.extra_run = name, sock, proc, list(extra_run)
        cfg = tempfile.mkdtemp(prefix="wharf-bench-dcfg-")
        self.env = {**os.environ, "DOCKER_HOST": "unix://" + sock, "DOCKER_CONFIG": cfg}

    def docker(self, *args, check=True):
        return subprocess.run([DOCKER, *args], env=self.env, check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def cleanup(engines, procs, tmp):
    """Removes the engines' containers, stops the daemons (SIGTERM, by PID), unmounts what is
    left under the bench's directory (dockerd's, if it died) and removes it."""
    for e in engines:
        ids = e.docker("ps", "-aq", check=False).stdout.decode().split()
        if ids:
            e.docker("rm", "-f", *ids, check=False)
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
        mp = line.split()[4]
        if mp.startswith(tmp):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    shutil.rmtree(tmp, ignore_errors=True)


def busybox_tarball(tmp):
    """The busybox rootfs (scripts/busybox-rootfs.sh) as a tar in `tmp`; returns its path."""
    rootfs = os.path.join(tmp, "rootfs")
    sh("sh", "scripts/busybox-rootfs.sh", rootfs, stdout=subprocess.DEVNULL)
    tarball = os.path.join(tmp, "busybox.tar")
    sh("tar", "-C", rootfs, "-cf", tarball, ".")
    return tarball


def start_wharf_isolated(wharf, tmp, name):
    """`wharf daemon` with roots under `tmp` and a bridge (`<name>0`), nftables table (`name`),
    address pool (10.123.0.0/16) and loopback-only resolv.conf of its own. Returns the Engine."""
    resolv = os.path.join(tmp, "resolv.conf")
    open(resolv, "w").write("nameserver 127.0.0.1\n")
    sock = os.path.join(tmp, "wharf.sock")
    p = subprocess.Popen([wharf, "daemon", "--data-root", os.path.join(tmp, "wdata"),
                          "--exec-root", os.path.join(tmp, "wexec"), "-H", "unix://" + sock,
                          "--bridge", name + "0", "--nft-table", name, "--resolv-conf", resolv,
                          "--default-address-pool", "base=10.123.0.0/16,size=24", "--log-level", "warn"],
                         stderr=open(os.path.join(tmp, "wharf.log"), "w"))
    wait_socket(sock, p, "wharf daemon")
    return Engine("wharf", sock, p)


def start_dockerd_in_netns(tmp, netns):
    """Debian's dockerd with roots under `tmp`, inside network namespace `netns` (made here; the
    caller deletes it), so its docker0, iptables rules and forwarding never touch the host's.
    nsenter joins only the network namespace: `ip netns exec` would remount /sys and hide the
    cgroup hierarchies from dockerd. Returns the Engine."""
    sh("ip", "netns", "add", netns)
    sh("ip", "-n", netns, "link", "set", "lo", "up")
    dsock = os.path.join(tmp, "dockerd.sock")
    d = os.path.join(tmp, "docker")
    log = os.path.join(tmp, "dockerd.log")
    p = subprocess.Popen(["nsenter", "--net=/run/netns/" + netns, "dockerd", "--data-root", d + "/data",
                          "--exec-root", d + "/exec", "-H", "unix://" + dsock, "--pidfile", d + "/pid",
                          "--containerd-namespace", netns, "--containerd-plugins-namespace", netns + "p"],
                         stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        wait_socket(dsock, p, "dockerd", timeout=60)
    except SystemExit:
        print(open(log).read()[-2000:])
        p.kill()
        raise
    return Engine("dockerd", dsock, p)


def throughput(engine, n, parallel, run_cmd):
    """n detached containers, `parallel` at a time: seconds until all run, then seconds to rm."""
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        ids = list(pool.map(lambda i: subprocess.run(
            run_cmd(i), env=engine.env, check=True, stdout=subprocess.PIPE).stdout.decode().strip(),
            range(n)))
    # All running: docker run -d returns once started; confirm through the API.
    running = engine.docker("ps", "-q", "--filter", "status=running").stdout.decode().split()
    started = time.perf_counter() - t
    missing = n - len([i for i in ids if i[:12] in running])
    t = time.perf_counter()
    engine.docker("rm", "-f", *ids)
    removed = time.perf_counter() - t
    return started, removed, missing


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--wharf", default="target/release/wharf")
    ap.add_argument("--crun-hugetlb-fix", action="store_true")
    ap.add_argument("--no-dockerd", action="store_true")
    ap.add_argument("--containers", type=int, default=50)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/engine.py: needs root")
    args.wharf = os.path.abspath(args.wharf)
    if not os.path.exists(args.wharf):
        sh("cargo", "build", "--release", "-p", "wharf")
    tmp = tempfile.mkdtemp(prefix="wb-", dir="/tmp")
    procs = []
    mounted_hugetlb = False
    engines = []
    try:
        mounted_hugetlb = args.crun_hugetlb_fix and hugetlb.mount()
        rootfs = os.path.join(tmp, "rootfs")
        sh("sh", "scripts/busybox-rootfs.sh", rootfs, stdout=subprocess.DEVNULL)
        tarball = os.path.join(tmp, "busybox.tar")
        sh("tar", "-C", rootfs, "-cf", tarball, ".")

        # Wharf's daemon.
        sock = os.path.join(tmp, "wharf.sock")
        t = time.perf_counter()
        p = subprocess.Popen([args.wharf, "daemon", "--data-root", os.path.join(tmp, "wdata"),
                              "--exec-root", os.path.join(tmp, "wexec"), "-H", "unix://" + sock,
                              "--bridge", "wbench0", "--nft-table", "wbench", "--log-level", "warn"], stderr=open(os.path.join(tmp, "wharf.log"), "w"))
        procs.append(p)
        wait_socket(sock, p, "wharf daemon")
        wharf_start = (time.perf_counter() - t) * 1000
        # The same work as dockerd's --network none: a namespace with loopback only.
        wharf = Engine("wharf", sock, p, ["--network", "none"])
        engines.append(wharf)
        dockerd = None
        dockerd_start = None
        if not args.no_dockerd and shutil.which("dockerd"):
            dsock = os.path.join(tmp, "dockerd.sock")
            d = os.path.join(tmp, "docker")
            t = time.perf_counter()
            p = subprocess.Popen(["dockerd", "--data-root", d + "/data", "--exec-root", d + "/exec",
                                  "-H", "unix://" + dsock, "--pidfile", d + "/pid", "--bridge=none",
                                  "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                                  "--ip-masq=false", "--userland-proxy=false",
                                  "--containerd-namespace", "wbench", "--containerd-plugins-namespace", "wbenchp"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "dockerd.log"), "w"))
            procs.append(p)
            wait_socket(dsock, p, "dockerd", timeout=60)
            dockerd_start = (time.perf_counter() - t) * 1000
            dockerd = Engine("dockerd", dsock, p, ["--network", "none"])
            engines.append(dockerd)
        for e in engines:
            e.docker("import", "-c", 'CMD ["/bin/sh"]', tarball, "busybox")

        # crun's bundle.
        bundle = os.path.join(tmp, "bundle")
        sh("sh", "scripts/busybox-rootfs.sh", "-b", bundle, stdout=subprocess.DEVNULL,
           env={**os.environ, "WHARF": args.wharf})
        spec = json.load(open(os.path.join(bundle, "config.json")))
        spec["ociVersion"] = "1.0.2"
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["/bin/true"]
        json.dump(spec, open(os.path.join(bundle, "config.json"), "w"))

        runners = {
            "docker-cli>wharf": (lambda i: [DOCKER, "run", "--rm", "--network", "none", "busybox", "true"],
                                 wharf.env),
            "wharf run": (lambda i: [args.wharf, "-H", "unix://" + sock, "run", "--rm", "--network", "none",
                                     "busybox", "true"], None),
        }
        crun = shutil.which("crun")
        if crun:
            runners["crun run"] = (lambda i: [crun, "--root", os.path.join(tmp, "crun"), "run", "--bundle",
                                              bundle, "wb-crun-%d" % i], None)
        if dockerd:
            runners["docker-cli>dockerd"] = (lambda i: [DOCKER, "run", "--rm", "--network", "none",
                                                        "busybox", "true"], dockerd.env)
        refused = {}
        for name, (mk, env) in runners.items():
            _, rc, err = time_one(mk(-1), env)
            if rc != 0:
                refused[name] = (err.splitlines() or ["exit %d" % rc])[-1]
        times = {n: [] for n in runners}
        rng = random.Random(7)
        for i in range(args.runs):
            order = list(runners.items())
            rng.shuffle(order)
            for name, (mk, env) in order:
                if name in refused:
                    continue
                time.sleep(0.1)
                dt, rc, err = time_one(mk(i), env)
                if rc != 0:
                    refused[name] = (err.splitlines() or ["exit %d" % rc])[-1]
                    continue
                times[name].append(dt)
        load = open("/proc/loadavg").read().split()[0]
        print("run --rm busybox true: %d shuffled rounds, 100 ms apart, load %s" % (args.runs, load))
        med = {}
        for name, xs in times.items():
            if name in refused or not xs:
                print("  %-20s refused: %s" % (name, refused.get(name, "no runs")))
                continue
            med[name] = statistics.median(xs)
            print("  %-20s median %7.1f ms   p10-p90 %6.1f-%6.1f ms   (n=%d)"
                  % (name, med[name], pct(xs, 0.1), pct(xs, 0.9), len(xs)))
        for w in ("docker-cli>wharf", "wharf run"):
            for peer in ("crun run", "docker-cli>dockerd"):
                if w in med and peer in med:
                    print("  %s / %s = %.2f" % (w, peer, med[w] / med[peer]))

        n = args.containers
        print("%d x run -d busybox sleep 600, 8 at a time:" % n)
        cases = [("%s (docker CLI)" % e.name, e,
                  lambda i, e=e: [DOCKER, "run", "-d", *e.extra_run, "busybox", "sleep", "600"])
                 for e in engines]
        cases.insert(1, ("wharf (wharf CLI)", wharf,
                         lambda i: [args.wharf, "-H", "unix://" + sock, "run", "-d", "--network", "none",
                                    "busybox", "sleep", "600"]))
        for label, e, cmd in cases:
            started, removed, missing = throughput(e, n, 8, cmd)
            print("  %-20s all running in %6.2f s%s, removed (one rm -f) in %5.2f s"
                  % (label, started, "" if not missing else " (%d not running!)" % missing, removed))

        # Footprint: the daemon idle, and one running container's supervisor.
        cid = wharf.docker("run", "-d", "busybox", "sleep", "600").stdout.decode().strip()
        shim_rss = 0
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
                except OSError:
                    continue
                if b"shim" in cmd[1:2] and cid.encode() in b" ".join(cmd):
                    shim_rss = rss_kb(int(pid))
        wharf.docker("rm", "-f", cid)
        print("footprint: wharf daemon RSS %.1f MB; one container's supervisor RSS %.1f MB;"
              " daemon start to /_ping %.0f ms" % (rss_kb(wharf.proc.pid) / 1024, shim_rss / 1024, wharf_start))
        if dockerd:
            print("           dockerd RSS %.1f MB (containerd not counted); dockerd start to /_ping %.0f ms"
                  % (rss_kb(dockerd.proc.pid) / 1024, dockerd_start))
    finally:
        cleanup(engines, procs, tmp)
        if mounted_hugetlb:
            hugetlb.unmount()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Kubernetes API server under load (issue 6's benchmark): `wharf server` on its embedded
SQLite store and on etcd, measured in the same run and, when a kube-apiserver binary is at hand
(--kube-apiserver PATH), the real one on etcd beside them. Run from the repository root:

    bench/apiserver.py [--runs 1] [--wharf target/release/wharf] [--clients 1,32]
                       [--pods 10000] [--pods-1client 2000] [--list-runs 10]
                       [--watchers 100] [--watch-writes 1000] [--https]
                       [--kube-apiserver PATH [--kube-apiserver-arg ARG ...]]

For every target, in order, on a fresh server and a fresh store:
  1. RSS at idle (VmRSS of the server process, 2 s after it is ready);
  2. --pods-1client pods created by one client, read back (GET each) and deleted by one client;
  3. --pods pods created by --clients' largest count of concurrent clients (creates/s), RSS with
     them stored, then every one read back by as many clients (gets/s);
  4. LIST of all of them: one JSON response, paginated JSON with limit=500 as kubectl pages,
     and the Table kubectl get asks for (limit=500) -- p50/p99 over --list-runs runs each;
  5. watch fan-out: --watchers watches on one namespace's pods collection, then --watch-writes
     pod creates into it (8 writers); the time from the first write until every watcher has
     received every event;
  6. p99 of every single-object call (create, get, delete) against Kubernetes' SLO of 1 s.

The client is Python's http.client over keep-alive connections, one connection per client, in
as many processes as there are cores (threads within them), each connection opened before the
clock starts. Wharf is served over plain HTTP (--insecure-http; no TLS cost on either side)
unless --https is given, which uses the admin client certificate from the generated
kubeconfig. The kube-apiserver is served over HTTPS with a bearer token (its PKI is made with
openssl in the temporary directory, as ../shared/research/k8s-conformance.md section 6 does;
ServiceAccount admission is disabled since no controller-manager creates the default
ServiceAccount). The output says how many client processes and threads ran and how much CPU
the clients, the server and etcd each used, so a client-bound figure shows as one.

Each etcd is a throwaway one on loopback ports with its own data directory under the
benchmark's temporary directory (--tmp-dir, default /tmp; it says which filesystem: data is
fsynced, so put it on a real disk). Every process is stopped by PID and the temporary directory
removed at the end, on failure and on Ctrl-C too. With --runs N the whole sequence repeats N
times per target (targets interleaved); rates are medians over runs, latency percentiles pool
all samples.
"""

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import pct, rss_kb  # noqa: E402

CPUS = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
MP = multiprocessing.get_context("fork")
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
SLO_S = 1.0
WATCH_WRITERS = 8

# Processes this run started; stopped by PID in cleanup().
STARTED = []


# --- processes -------------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_status_kb(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far (0 when it is gone)."""
    try:
        stat = open("/proc/%d/stat" % pid).read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stop(p, grace=10):
    """SIGTERM to one process we started (by PID), SIGKILL after `grace` seconds."""
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, **kw)
    STARTED.append(p)
    return p


def log_tail(path, n=15):
    try:
        return "".join(open(path, errors="replace").readlines()[-n:])
    except OSError:
        return ""


def filesystem_of(path):
    """The filesystem type of the mount holding `path` (ext4, tmpfs, ...)."""
    path = os.path.realpath(path)
    best, fstype = "", "?"
    for line in open("/proc/mounts"):
        parts = line.split()
        mp = parts[1].replace("\\040", " ")
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
            best, fstype = mp, parts[2]
    return fstype


def etcd_version():
    """The etcd binary's version ("3.4.23"), or "?" when it does not say."""
    try:
        out = subprocess.run([ETCD, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(r"etcd Version: (\S+)", out)
    return m.group(1) if m else "?"


class Etcd:
    """A throwaway single-member etcd on loopback ports, data under `dir`."""

    def __init__(self, dir):
        self.dir = dir
        last = ""
        for _ in range(5):
            client, peer = free_port(), free_port()
            self.url = "http://127.0.0.1:%d" % client
            peer_url = "http://127.0.0.1:%d" % peer
            logpath = os.path.join(dir, "etcd.log")
            shutil.rmtree(os.path.join(dir, "data"), ignore_errors=True)
            self.proc = spawn([ETCD, "--name=bench", "--data-dir=" + os.path.join(dir, "data"),
                               "--listen-client-urls=" + self.url, "--advertise-client-urls=" + self.url,
                               "--listen-peer-urls=" + peer_url, "--initial-advertise-peer-urls=" + peer_url,
                               "--initial-cluster=bench=" + peer_url, "--initial-cluster-state=new",
                               "--max-request-bytes=2097152", "--quota-backend-bytes=4294967296",
                               "--log-level=error"], open(logpath, "w"))
            deadline = time.time() + 20
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", client, timeout=2)
                    c.request("GET", "/health")
                    if b"true" in c.getresponse().read():
                        return
                except OSError:
                    pass
                time.sleep(0.05)
            last = log_tail(logpath)
            stop(self.proc)
        sys.exit("etcd did not start:\n" + last)


# --- targets ---------------------------------------------------------------------------------

class Target:
    """A server under test: how to connect, its process and (if any) its etcd."""

    def __init__(self, name, host, port, proc, ctx=None, headers=None, etcd=None, log=None):
        self.name, self.host, self.port, self.proc = name, host, port, proc
        self.ctx, self.etcd, self.log = ctx, etcd, log
        self.headers = {"Accept": "application/json", **(headers or {})}

    def connect(self, timeout=120):
        if self.ctx is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx)

    def call(self, conn, method, path, body=None, accept=None):
        h = dict(self.headers)
        if body is not None:
            h["Content-Type"] = "application/json"
        if accept:
            h["Accept"] = accept
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, r.read()

    def once(self, method, path, body=None, accept=None):
        conn = self.connect()
        try:
            return self.call(conn, method, path, body, accept)
        finally:
            conn.close()

    def pids(self):
        return [self.proc.pid] + ([self.etcd.proc.pid] if self.etcd else [])

    def alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited (status %s); its log ends:\n%s"
                               % (self.name, self.proc.returncode, log_tail(self.log)))


def wait_line(proc, logpath, pattern, what, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, open(logpath, errors="replace").read())
        if m:
            return m
        if proc.poll() is not None:
            sys.exit("%s exited (status %s):\n%s" % (what, proc.returncode, log_tail(logpath)))
        time.sleep(0.05)
    sys.exit("%s was not ready within %d s:\n%s" % (what, timeout, log_tail(logpath)))


def kubeconfig_field(text, key):
    m = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(key), text, re.M)
    return base64.b64decode(m.group(1)) if m else None


def start_wharf(wharf, dir, etcd, https):
    os.makedirs(dir, exist_ok=True)
    logpath = os.path.join(dir, "server.log")
    kubeconfig = os.path.join(dir, "admin.kubeconfig")
    args = [wharf, "server", "--data-dir", os.path.join(dir, "data"), "--listen", "127.0.0.1:0",
            "--write-kubeconfig", kubeconfig, "--log-level", "warn"]
    if not https:
        args.append("--insecure-http")
    if etcd:
        args += ["--etcd-servers", etcd.url, "--etcd-prefix", "/wharf-bench"]
    p = spawn(args, open(logpath, "w"))
    m = wait_line(p, logpath, r"serving the Kubernetes API on ([0-9.]+):(\d+)", "wharf server")
    ctx = None
    if https:
        text = open(kubeconfig).read()
        ctx = ssl.create_default_context(cadata=kubeconfig_field(text, "certificate-authority-data").decode())
        ctx.check_hostname = False  # the serving certificate names 127.0.0.1 as an IP SAN
        cert, key = os.path.join(dir, "client.crt"), os.path.join(dir, "client.key")
        open(cert, "wb").write(kubeconfig_field(text, "client-certificate-data"))
        open(key, "wb").write(kubeconfig_field(text, "client-key-data"))
        ctx.load_cert_chain(cert, key)
    name = "wharf/" + ("etcd" if etcd else "sqlite")
    return Target(name, m.group(1), int(m.group(2)), p, ctx, etcd=etcd, log=logpath)


def start_kube_apiserver(path, extra, dir, etcd):
    """The real kube-apiserver on `etcd`, HTTPS with a static bearer token; PKI by openssl."""
    pki = os.path.join(dir, "pki")
    os.makedirs(pki)
    san = os.path.join(pki, "san.cnf")
    open(san, "w").write("[req]\ndistinguished_name=dn\n[dn]\n[ext]\n"
                         "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes\n"
                         "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")

    def ossl(*a):
        subprocess.run(["openssl", *a], cwd=pki, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
         "-days", "2", "-subj", "/CN=wharf-bench-ca")
    ossl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out",
         "apiserver.csr", "-subj", "/CN=kube-apiserver", "-config", san)
    ossl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", san, "-extensions", "ext", "-out", "apiserver.crt")
    ossl("genrsa", "-out", "sa.key", "2048")
    ossl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    token = os.urandom(16).hex()
    open(os.path.join(pki, "tokens.csv"), "w").write("%s,admin,admin,system:masters\n" % token)
    port = free_port()
    logpath = os.path.join(dir, "kube-apiserver.log")
    p = spawn([path, "--etcd-servers=" + etcd.url, "--bind-address=127.0.0.1",
               "--secure-port=%d" % port, "--advertise-address=127.0.0.1",
               "--endpoint-reconciler-type=none",
               "--tls-cert-file=" + os.path.join(pki, "apiserver.crt"),
               "--tls-private-key-file=" + os.path.join(pki, "apiserver.key"),
               "--client-ca-file=" + os.path.join(pki, "ca.crt"),
               "--token-auth-file=" + os.path.join(pki, "tokens.csv"),
               "--authorization-mode=RBAC",
               "--service-account-key-file=" + os.path.join(pki, "sa.pub"),
               "--service-account-signing-key-file=" + os.path.join(pki, "sa.key"),
               "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
               "--api-audiences=https://kubernetes.default.svc.cluster.local",
               "--service-cluster-ip-range=10.96.0.0/16",
               "--disable-admission-plugins=ServiceAccount",
               "--profiling=false", "--v=1", *extra], open(logpath, "w"))
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
    ctx.check_hostname = False
    t = Target("kube-apiserver", "127.0.0.1", port, p, ctx, {"Authorization": "Bearer " + token},
               etcd=etcd, log=logpath)
    deadline = time.time() + 120
    while time.time() < deadline:
        if p.poll() is not None:
            sys.exit("kube-apiserver exited (status %s):\n%s" % (p.returncode, log_tail(logpath)))
        try:
            if t.once("GET", "/readyz")[0] == 200:
                status, data = t.once("GET", "/version")
                t.version = json.loads(data).get("gitVersion", "?") if status == 200 else "?"
                return t
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.25)
    sys.exit("kube-apiserver was not ready within 120 s:\n" + log_tail(logpath))


# --- the load --------------------------------------------------------------------------------

def pod_name(prefix, i):
    return "%s-%05d" % (prefix, i)


def pod_body(ns, prefix, i):
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(prefix, i), "namespace": ns,
                     "labels": {"app": "bench", "shard": str(i % 16)}},
        "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9",
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    }, separators=(",", ":")).encode()


def op_request(op, ns, prefix, i):
    base = "/api/v1/namespaces/%s/pods" % ns
    if op == "create":
        return "POST", base, pod_body(ns, prefix, i), (201,)
    if op == "get":
        return "GET", "%s/%s" % (base, pod_name(prefix, i)), None, (200,)
    if op == "delete":
        return "DELETE", "%s/%s" % (base, pod_name(prefix, i)), None, (200, 202)
    raise ValueError(op)


def describe_error(method, path, status, data):
    msg = data.decode(errors="replace")
    try:
        st = json.loads(data)
        msg = "%s: %s" % (st.get("reason", ""), st.get("message", msg))
    except ValueError:
        msg = msg[:200]
    return "%s %s -> %s %s" % (method, path, status, msg)


def _client_thread(target, op, ns, prefix, idxs, barrier, out):
    lats, errs = [], []
    try:
        conn = target.connect()
        target.call(conn, "GET", "/version")
        barrier.wait(120)
    except Exception as e:  # noqa: BLE001 -- reported to the parent, which stops the phase
        barrier.abort()
        out.append(([], ["client setup: %r" % e], time.monotonic()))
        return
    for i in idxs:
        method, path, body, ok = op_request(op, ns, prefix, i)
        t = time.monotonic()
        try:
            status, data = target.call(conn, method, path, body)
        except (OSError, http.client.HTTPException) as e:
            status, data = 0, repr(e).encode()
            conn.close()
            conn = target.connect()
        dt = time.monotonic() - t
        if status in ok:
            lats.append(dt)
        else:
            errs.append(describe_error(method, path, status, data))
    out.append((lats, errs, time.monotonic()))
    conn.close()


def _client_proc(target, op, ns, prefix, per_thread, barrier, q):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    c0 = os.times()
    out = []
    threads = [threading.Thread(target=_client_thread, args=(target, op, ns, prefix, idxs, barrier, out))
               for idxs in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c1 = os.times()
    q.put({"lats": [x for o in out for x in o[0]], "errs": [x for o in out for x in o[1]],
           "end": max(o[2] for o in out), "cpu": (c1.user - c0.user) + (c1.system - c0.system)})


def collect(procs, q, what, timeout=3600):
    results = []
    deadline = time.time() + timeout
    while len(results) < len(procs):
        try:
            results.append(q.get(timeout=1))
        except Exception:  # queue.Empty
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError("%s: a client process died (exit %s)" % (what, dead[0].exitcode))
            if time.time() > deadline:
                raise RuntimeError("%s: clients did not finish within %d s" % (what, timeout))
    for p in procs:
        p.join()
    return results


def split(items, n):
    return [items[k::n] for k in range(n)]


class Phase:
    """What one load phase measured: wall time, per-request latencies, errors, CPU per party."""

    def __init__(self, n, wall, lats, errs, client_cpu, server_cpu, etcd_cpu, procs, threads):
        self.n, self.wall, self.lats, self.errs = n, wall, lats, errs
        self.client_cpu, self.server_cpu, self.etcd_cpu = client_cpu, server_cpu, etcd_cpu
        self.procs, self.threads = procs, threads

    @property
    def rate(self):
        return len(self.lats) / self.wall if self.wall > 0 else 0.0


def cpu_snapshot(target):
    return (cpu_seconds(target.proc.pid), cpu_seconds(target.etcd.proc.pid) if target.etcd else 0.0)


def run_clients(target, op, ns, prefix, indices, clients):
    """`indices` requests of kind `op`, `clients` connections at once in min(clients, CPUS)
    processes; the clock starts when every connection is open."""
    nproc = min(clients, CPUS)
    per_client = split(list(indices), clients)
    per_proc = split(per_client, nproc)
    barrier = MP.Barrier(clients + 1)
    q = MP.Queue()
    procs = [MP.Process(target=_client_proc, args=(target, op, ns, prefix, pt, barrier, q), daemon=True)
             for pt in per_proc]
    for p in procs:
        p.start()
    try:
        barrier.wait(120)
    except threading.BrokenBarrierError:
        pass  # a client failed to connect; its error comes back through the queue
    t0 = time.monotonic()
    s0, e0 = cpu_snapshot(target)
    res = collect(procs, q, "%s %s" % (target.name, op))
    s1, e1 = cpu_snapshot(target)
    wall = max(r["end"] for r in res) - t0
    return Phase(len(indices), wall, [x for r in res for x in r["lats"]], [x for r in res for x in r["errs"]],
                 sum(r["cpu"] for r in res), s1 - s0, e1 - e0, nproc, clients), t0


def _watch_thread(target, path, expect, barrier, out):
    n, err = 0, None
    try:
        conn = target.connect(timeout=600)
        h = dict(target.headers)
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        if r.status != 200:
            err = describe_error("GET", path, r.status, r.read())
    except (OSError, http.client.HTTPException) as e:
        err = "GET %s -> %r" % (path, e)
    try:
        barrier.wait(120)
    except threading.BrokenBarrierError:
        err = err or "watch setup: another watcher failed"
    if err:
        out.append((0, time.monotonic(), err))
        return
    try:
        while n < expect:
            line = r.readline()
            if not line:
                err = "GET %s: the watch ended after %d of %d events" % (path, n, expect)
                break
            if b'"type":"ADDED"' in line:
                n += 1
            elif b'"type":"ERROR"' in line:
                err = "GET %s: ERROR event %s" % (path, line[:300].decode(errors="replace"))
                break
    except (OSError, http.client.HTTPException) as e:
        err = "GET %s: %r after %d events" % (path, e, n)
    out.append((n, time.monotonic(), err))
    conn.close()


def _watch_proc(target, path, expect, count, barrier, q):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    c0 = os.times()
    out = []
    threads = [threading.Thread(target=_watch_thread, args=(target, path, expect, barrier, out))
               for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c1 = os.times()
    q.put({"watchers": out, "cpu": (c1.user - c0.user) + (c1.system - c0.system)})


def watch_fanout(target, ns, watchers, writes):
    status, data = target.once("GET", "/api/v1/namespaces/%s/pods?limit=1" % ns)
    if status != 200:
        raise RuntimeError(describe_error("GET", "/api/v1/namespaces/%s/pods?limit=1" % ns, status, data))
    rv = json.loads(data)["metadata"]["resourceVersion"]
    path = "/api/v1/namespaces/%s/pods?watch=1&resourceVersion=%s&timeoutSeconds=600" % (ns, rv)
    nproc = min(watchers, CPUS)
    barrier = MP.Barrier(watchers + 1)
    q = MP.Queue()
    procs = [MP.Process(target=_watch_proc, args=(target, path, writes, len(c), barrier, q), daemon=True)
             for c in split(list(range(watchers)), nproc)]
    for p in procs:
        p.start()
    try:
        barrier.wait(120)
    except threading.BrokenBarrierError:
        pass
    s0, e0 = cpu_snapshot(target)
    w, t0 = run_clients(target, "create", ns, "w", range(writes), WATCH_WRITERS)
    res = collect(procs, q, "%s watch" % target.name)
    s1, e1 = cpu_snapshot(target)
    got = [x for r in res for x in r["watchers"]]
    errs = [e for (_, _, e) in got if e] + w.errs
    done = [end - t0 for (n, end, e) in got if n == writes]
    return {"writes": w, "done": done, "complete": len(done), "errs": errs,
            "watch_cpu": sum(r["cpu"] for r in res), "server_cpu": s1 - s0, "etcd_cpu": e1 - e0,
            "procs": nproc}


def list_runs(target, ns, runs, expect, limit=None, accept=None):
    """`runs` LISTs of the namespace's pods (all pages when `limit`); seconds each, the bytes
    of one LIST, errors. Items are counted after the clock stops."""
    conn = target.connect()
    target.call(conn, "GET", "/version")
    times, errs, size = [], [], 0
    for _ in range(runs):
        bodies = []
        cont = None
        t = time.monotonic()
        while True:
            path = "/api/v1/namespaces/%s/pods" % ns
            q = []
            if limit:
                q.append("limit=%d" % limit)
            if cont:
                q.append("continue=" + cont)
            if q:
                path += "?" + "&".join(q)
            status, data = target.call(conn, "GET", path, accept=accept)
            if status != 200:
                errs.append(describe_error("GET", path, status, data))
                break
            bodies.append(data)
            m = re.search(rb'"continue":"([^"]+)"', data) if limit else None
            if not m:
                break
            cont = m.group(1).decode()
        dt = time.monotonic() - t
        if errs:
            break
        times.append(dt)
        size = sum(len(b) for b in bodies)
        n = 0
        for b in bodies:
            doc = json.loads(b)
            n += len(doc.get("rows") if accept else doc.get("items") or [])
        if n != expect:
            errs.append("LIST %s%s: %d items, expected %d" % (
                "as Table " if accept else "", "limit=%d " % limit if limit else "", n, expect))
    conn.close()
    return {"times": times, "errs": errs, "bytes": size}


def ensure_namespace(target, name):
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).encode()
    status, data = target.once("POST", "/api/v1/namespaces", body)
    if status not in (201, 409):
        raise RuntimeError(describe_error("POST", "/api/v1/namespaces", status, data))


class RssSampler(threading.Thread):
    """Samples the server's VmRSS every 20 ms; the peak per phase named by mark()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.phase, self.peaks, self.stopped = pid, "start", {}, threading.Event()

    def mark(self, phase):
        self.phase = phase

    def run(self):
        while not self.stopped.wait(0.02):
            kb = proc_status_kb(self.pid, "VmRSS")
            if kb > self.peaks.get(self.phase, 0):
                self.peaks[self.phase] = kb


def rss(target):
    return {"server": proc_status_kb(target.proc.pid, "VmRSS"),
            "etcd": proc_status_kb(target.etcd.proc.pid, "VmRSS") if target.etcd else None}


def measure(target, args, say):
    """One round against a started target; returns what it measured."""
    r = {"errs": []}
    time.sleep(2)
    r["rss_idle"] = rss(target)
    sampler = RssSampler(target.proc.pid)
    sampler.start()
    try:
        measure_load(target, args, say, r, sampler)
    finally:
        sampler.stopped.set()
    r["peaks"] = sampler.peaks
    r["rss_end"] = rss(target)
    r["hwm"] = proc_status_kb(target.proc.pid, "VmHWM")
    return r


def measure_load(target, args, say, r, sampler):
    say("idle RSS %.0f MiB" % (r["rss_idle"]["server"] / 1024))
    for ns in ("bench-1", "bench", "bench-watch"):
        ensure_namespace(target, ns)
    big = max(args.clients)
    for c in sorted(set(args.clients)):
        if c == big:
            continue
        n = args.pods_1client if c == 1 else args.pods
        for op in ("create", "get", "delete"):
            sampler.mark("%s x%d" % (op, c))
            ph, _ = run_clients(target, op, "bench-1", "p", range(n), c)
            r["%s@%d" % (op, c)] = ph
            r["errs"] += ph.errs
            say("%s x%d, %d client(s): %.0f/s%s" % (op, n, c, ph.rate, ", %d errors" % len(ph.errs) if ph.errs else ""))
            target.alive()
    for op in ("create", "get"):
        sampler.mark("%s x%d" % (op, big))
        ph, _ = run_clients(target, op, "bench", "p", range(args.pods), big)
        r["%s@%d" % (op, big)] = ph
        r["errs"] += ph.errs
        say("%s x%d, %d clients: %.0f/s%s" % (op, args.pods, big, ph.rate, ", %d errors" % len(ph.errs) if ph.errs else ""))
        target.alive()
        if op == "create":
            time.sleep(2)
            r["rss_full"] = rss(target)
            say("RSS with %d pods %.0f MiB" % (args.pods, r["rss_full"]["server"] / 1024))
    for key, limit, accept in (("list", None, None), ("list500", 500, None), ("table500", 500, TABLE_ACCEPT)):
        sampler.mark(key)
        s0, e0 = cpu_snapshot(target)
        lr = list_runs(target, "bench", args.list_runs, args.pods, limit, accept)
        s1, e1 = cpu_snapshot(target)
        lr["server_cpu"], lr["etcd_cpu"] = s1 - s0, e1 - e0
        r[key] = lr
        r["errs"] += lr["errs"]
        if lr["times"]:
            say("%s: p50 %.0f ms" % (key, statistics.median(lr["times"]) * 1000))
        target.alive()
    sampler.mark("watch")
    wf = watch_fanout(target, "bench-watch", args.watchers, args.watch_writes)
    r["watch"] = wf
    r["errs"] += wf["errs"]
    if wf["done"]:
        say("watch fan-out: %d/%d watchers complete, last after %.2f s"
            % (wf["complete"], args.watchers, max(wf["done"])))
    target.alive()


# --- report ----------------------------------------------------------------------------------

def fmt_rate(rounds, key):
    xs = [r[key].rate for r in rounds if key in r]
    return "%.0f/s" % statistics.median(xs) if xs else "-"


def fmt_lat(rounds, key):
    xs = [x for r in rounds if key in r for x in r[key].lats]
    if not xs:
        return "-"
    return "%.1f / %.1f ms" % (pct(xs, 0.5) * 1000, pct(xs, 0.99) * 1000)


def fmt_list(rounds, key):
    xs = [x for r in rounds if key in r for x in r[key]["times"]]
    if not xs:
        return "-"
    size = statistics.median([r[key]["bytes"] for r in rounds if key in r])
    return "%.0f / %.0f ms (%.1f MB)" % (pct(xs, 0.5) * 1000, pct(xs, 0.99) * 1000, size / 1e6)


def fmt_mib(kbs):
    kbs = [k for k in kbs if k]
    return "%.0f MiB" % (statistics.median(kbs) / 1024) if kbs else "-"


def report(results, args, names, fs, tmp):
    big = max(args.clients)
    small = sorted(c for c in set(args.clients) if c != big)
    rows = []  # (label, anchor, {name: text})

    def row(label, anchor, f):
        rows.append((label, anchor, {n: f(results[n]) if results.get(n) else "not run" for n in names}))

    for c in small:
        n = args.pods_1client if c == 1 else args.pods
        row("creates/s, %d client%s (%d pods)" % (c, "" if c == 1 else "s", n),
            "etcd ~583 writes/s, 1 client" if c == 1 else "", lambda rs, c=c: fmt_rate(rs, "create@%d" % c))
        row("  create p50 / p99", "", lambda rs, c=c: fmt_lat(rs, "create@%d" % c))
        row("gets/s, %d client%s" % (c, "" if c == 1 else "s"), "", lambda rs, c=c: fmt_rate(rs, "get@%d" % c))
        row("  get p50 / p99", "", lambda rs, c=c: fmt_lat(rs, "get@%d" % c))
        row("deletes/s, %d client%s" % (c, "" if c == 1 else "s"), "", lambda rs, c=c: fmt_rate(rs, "delete@%d" % c))
        row("  delete p50 / p99", "", lambda rs, c=c: fmt_lat(rs, "delete@%d" % c))
    row("creates/s, %d clients (%d pods)" % (big, args.pods), "", lambda rs: fmt_rate(rs, "create@%d" % big))
    row("  create p50 / p99", "", lambda rs: fmt_lat(rs, "create@%d" % big))
    row("gets/s, %d clients (%d pods)" % (big, args.pods), "", lambda rs: fmt_rate(rs, "get@%d" % big))
    row("  get p50 / p99", "", lambda rs: fmt_lat(rs, "get@%d" % big))
    row("LIST %d pods, JSON, p50 / p99" % args.pods, "", lambda rs: fmt_list(rs, "list"))
    row("LIST limit=500 pages, p50 / p99", "", lambda rs: fmt_list(rs, "list500"))
    row("LIST as Table limit=500 (kubectl get)", "", lambda rs: fmt_list(rs, "table500"))

    def fan(rs):
        ds = [max(r["watch"]["done"]) for r in rs if r["watch"]["complete"] == args.watchers]
        if len(ds) < len(rs):
            worst = min(r["watch"]["complete"] for r in rs)
            return "INCOMPLETE: %d/%d watchers got all" % (worst, args.watchers)
        return "%.2f s" % statistics.median(ds)

    def fan_writes(rs):
        return "%.2f s (%.0f/s)" % (statistics.median([r["watch"]["writes"].wall for r in rs]),
                                    statistics.median([r["watch"]["writes"].rate for r in rs]))

    row("watch fan-out: %d watchers x %d writes, all delivered" % (args.watchers, args.watch_writes), "",
        fan)
    row("  (the %d writes themselves, %d writers)" % (args.watch_writes, WATCH_WRITERS), "", fan_writes)

    def slo(rs):
        xs = [x for r in rs for k, v in r.items() if isinstance(v, Phase) for x in v.lats]
        xs += [x for r in rs for x in r["watch"]["writes"].lats]
        if not xs:
            return "-"
        p99 = pct(xs, 0.99)
        return "%.1f ms (max %.0f ms) %s" % (p99 * 1000, max(xs) * 1000, "ok" if p99 <= SLO_S else "OVER")

    row("single-object calls, p99 of all", "SLO: p99 <= 1 s", slo)
    row("server RSS idle", "k3s idles ~1.4-1.6 GB", lambda rs: fmt_mib([r["rss_idle"]["server"] for r in rs]))
    row("server RSS with %d pods" % args.pods, "", lambda rs: fmt_mib([r["rss_full"]["server"] for r in rs]))
    row("server peak RSS (VmHWM)", "", lambda rs: fmt_mib([r["hwm"] for r in rs]))
    row("etcd RSS idle / with %d pods" % args.pods, "",
        lambda rs: "-" if rs[0]["rss_idle"]["etcd"] is None else "%s / %s" % (
            fmt_mib([r["rss_idle"]["etcd"] for r in rs]), fmt_mib([r["rss_full"]["etcd"] for r in rs])))
    row("errors", "", lambda rs: str(sum(len(r["errs"]) for r in rs)))

    w0 = max(len(r[0]) for r in rows)
    ws = {n: max(len(n), max(len(r[2][n]) for r in rows)) for n in names}
    print()
    print("Kubernetes API servers, %d run(s); data on %s (%s); %d cores; load %s"
          % (args.runs, fs, tmp, CPUS, open("/proc/loadavg").read().split()[0]))
    transport = ("plain HTTP to Wharf (--insecure-http)" if not args.https
                 else "HTTPS to Wharf with the admin client certificate")
    if "kube-apiserver" in results:
        transport += ", HTTPS to kube-apiserver with a bearer token"
    print("client: Python http.client, keep-alive, %s; N clients = N connections in min(N, %d) processes "
          "(threads inside); %d watchers in %d processes"
          % (transport, CPUS, args.watchers, min(args.watchers, CPUS)))
    if "kube-apiserver" in results:
        print("kube-apiserver %s (%s) on etcd %s" % (getattr(args, "kube_apiserver_version", "?"),
                                                    args.kube_apiserver, etcd_version()))
    head = "%-*s  " % (w0, "") + "  ".join("%-*s" % (ws[n], n) for n in names) + "  anchor"
    print(head)
    print("-" * len(head))
    for label, anchor, vals in rows:
        print("%-*s  " % (w0, label) + "  ".join("%-*s" % (ws[n], vals[n]) for n in names) + "  " + anchor)

    # Where the CPU went, so a client-bound figure shows as one.
    print()
    print("CPU seconds per phase (client / server / etcd) over wall seconds; %d cores in all:" % CPUS)
    keys = [k for k in ("create@%d" % c for c in small + [big])] + ["get@%d" % c for c in small + [big]]
    keys += ["delete@%d" % c for c in small]
    for n in names:
        rs = results.get(n)
        if not rs:
            continue
        r = rs[-1]
        parts = []
        for k in keys:
            if k in r:
                ph = r[k]
                parts.append("%s: %.1f/%.1f/%.1f over %.1f (%dp x %dt)" % (
                    k.replace("@", " x"), ph.client_cpu, ph.server_cpu, ph.etcd_cpu, ph.wall, ph.procs, ph.threads))
        w = r["watch"]
        parts.append("watch: watchers %.1f + writers %.1f / %.1f / %.1f" % (
            w["watch_cpu"], w["writes"].client_cpu, w["server_cpu"], w["etcd_cpu"]))
        for k in ("list", "list500", "table500"):
            lr = r[k]
            if lr["times"]:
                parts.append("%s: server %.2f / etcd %.2f per LIST over %.2f" % (
                    k, lr["server_cpu"] / len(lr["times"]), lr["etcd_cpu"] / len(lr["times"]),
                    statistics.mean(lr["times"])))
        print("  %s (last run):" % n)
        for p in parts:
            print("    " + p)
        print("    peak server RSS per phase: " + ", ".join(
            "%s %.0f MiB" % (k, v / 1024) for k, v in r["peaks"].items()))
    errs = [(n, e) for n in names for r in (results.get(n) or []) for e in r["errs"]]
    if errs:
        print()
        print("errors (first 20 of %d):" % len(errs))
        for n, e in errs[:20]:
            print("  %s: %s" % (n, e))


# --- main ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--wharf", default="target/release/wharf")
    ap.add_argument("--clients", default="1,32", help="comma-separated client counts (default 1,32)")
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--pods-1client", type=int, default=2000,
                    help="pods created, read and deleted by the smaller client counts (default 2000)")
    ap.add_argument("--list-runs", type=int, default=10)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--watch-writes", type=int, default=1000)
    ap.add_argument("--https", action="store_true", help="talk HTTPS to Wharf with the kubeconfig's client cert")
    ap.add_argument("--no-etcd", action="store_true", help="skip Wharf on etcd")
    ap.add_argument("--no-sqlite", action="store_true", help="skip Wharf on SQLite")
    ap.add_argument("--kube-apiserver", metavar="PATH", help="a kube-apiserver binary to include")
    ap.add_argument("--kube-apiserver-arg", action="append", default=[], metavar="ARG",
                    help="an extra flag for the kube-apiserver (repeatable)")
    ap.add_argument("--tmp-dir", default=None, help="where the stores live (default: $TMPDIR or /tmp)")
    args = ap.parse_args()
    args.clients = sorted({int(c) for c in args.clients.split(",") if c.strip()})
    if not args.clients or min(args.clients) < 1:
        sys.exit("--clients: give positive counts, e.g. 1,32")
    args.wharf = os.path.abspath(args.wharf)
    if not os.path.exists(args.wharf):
        subprocess.run(["cargo", "build", "--release", "-p", "wharf"], check=True)
    kinds = []
    if not args.no_sqlite:
        kinds.append("wharf/sqlite")
    if not args.no_etcd:
        if not os.path.exists(ETCD):
            sys.exit("%s is missing (apt-get install etcd-server), or pass --no-etcd" % ETCD)
        kinds.append("wharf/etcd")
    if args.kube_apiserver:
        args.kube_apiserver = os.path.abspath(args.kube_apiserver)
        if not os.access(args.kube_apiserver, os.X_OK):
            sys.exit("--kube-apiserver %s: not an executable file" % args.kube_apiserver)
        kinds.append("kube-apiserver")
    names = kinds + ([] if args.kube_apiserver else ["kube-apiserver"])

    tmp = tempfile.mkdtemp(prefix="wharf-apibench-", dir=args.tmp_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = {k: [] for k in kinds}
    try:
        for run in range(args.runs):
            for kind in kinds:
                dir = os.path.join(tmp, "%s-%d" % (kind.replace("/", "-"), run))
                os.makedirs(dir)
                etcd = Etcd(dir) if kind in ("wharf/etcd", "kube-apiserver") else None
                if kind == "kube-apiserver":
                    t = start_kube_apiserver(args.kube_apiserver, args.kube_apiserver_arg, dir, etcd)
                    args.kube_apiserver_version = t.version
                else:
                    t = start_wharf(args.wharf, dir, etcd, args.https)

                def say(msg, kind=kind, run=run):
                    print("[%s run %d] %s" % (kind, run + 1, msg), file=sys.stderr, flush=True)

                try:
                    results[kind].append(measure(t, args, say))
                finally:
                    stop(t.proc)
                    if etcd:
                        stop(etcd.proc)
                    shutil.rmtree(dir, ignore_errors=True)
        report(results, args, names, filesystem_of(tmp), tmp)
        if not args.kube_apiserver:
            print()
            print("kube-apiserver: not at hand (pass --kube-apiserver PATH to run it on its own etcd "
                  "beside Wharf; ../shared/research/k8s-conformance.md says how one is built)")
    finally:
        for p in MP.active_children():
            p.terminate()
        for p in reversed(STARTED):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

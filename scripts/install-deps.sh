#!/bin/sh
# Debian packages Wharf needs to build and test on a fresh bookworm machine (run as root).
#   libseccomp-dev, pkg-config  the runtime links libseccomp (without it seccomp would be ignored)
#   gcc                         cargo links with cc; the blake3 crate assembles its SIMD code
#   busybox-static              the test image (scripts/busybox-rootfs.sh)
#   procps                      `wharf oci ps` and `docker top` run ps
#   tini                        `run --init` binds tini-static in as docker-init, as dockerd does
#   curl                        tests and benchmarks wait for the daemon's /_ping with it
#   skopeo                      validates what `save` writes (docker-archive:, oci-archive:)
#   docker.io                   a real dockerd: `docker save` output from it must load into
#                               Wharf and Wharf's into it; the benchmark's peer
#   nftables                    the daemon writes its NAT and port rules with `nft -f -`
#   iproute2                    network tests build their "outside world" namespace with `ip`
#   python3-docker              the Python `docker` package, if pip's is not installed
#   etcd-server                 the store's etcd backend: conformance, durability and server tests
#                               start throwaway etcds on loopback
#   protobuf-compiler           the etcd-client crate compiles etcd's protos at build time
#   python3-venv                the virtualenv /opt/wharf-pyk8s with the Python `kubernetes`
#                               client 32.0.1 (matching kubectl 1.32) for tests/server_python.rs
set -eu
need=""
for p in gcc libseccomp-dev pkg-config busybox-static procps tini curl skopeo docker.io nftables iproute2 etcd-server protobuf-compiler python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
python3 -c 'import docker' 2>/dev/null || need="$need python3-docker"
if [ -n "$need" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
# The Python Kubernetes client, pinned to the release matching kubectl 1.32, in its own venv.
PYK8S=/opt/wharf-pyk8s
if ! "$PYK8S/bin/python" -c 'import kubernetes, sys; sys.exit(kubernetes.__version__ != "32.0.1")' 2>/dev/null; then
  python3 -m venv "$PYK8S"
  "$PYK8S/bin/pip" install -q --disable-pip-version-check kubernetes==32.0.1
fi

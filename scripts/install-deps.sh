#!/bin/sh
# Debian packages Wharf needs to build and test on a fresh bookworm machine (run as root).
#   libseccomp-dev, pkg-config  the runtime links libseccomp (without it seccomp would be ignored)
#   busybox-static              the test image (scripts/busybox-rootfs.sh)
#   procps                      `wharf oci ps` runs ps
set -eu
need=""
for p in libseccomp-dev pkg-config busybox-static procps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
[ -z "$need" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $need >/dev/null

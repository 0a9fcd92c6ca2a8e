#!/bin/sh
# Turns Debian's busybox-static into a container root filesystem (and, with -b, an OCI bundle
# around it): the static busybox, its applet links, /etc/passwd and /etc/group, the mount
# points a runtime needs. No network is involved: this is Wharf's test image.
#
#   scripts/busybox-rootfs.sh DIR            # DIR becomes a rootfs
#   scripts/busybox-rootfs.sh -b BUNDLE      # BUNDLE/rootfs plus a runc-style BUNDLE/config.json
#                                            # (needs `wharf` on PATH or WHARF=path/to/wharf)
set -eu
bundle=0
if [ "${1:-}" = "-b" ]; then bundle=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [-b] DIR" >&2; exit 2; }
busybox=${BUSYBOX:-/bin/busybox}
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' && \
   ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable'; then
  echo "$0: $busybox is not a static busybox; install Debian's busybox-static" >&2
  exit 1
fi
out=$1
if [ $bundle -eq 1 ]; then root=$out/rootfs; else root=$out; fi
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp root var/tmp home
cp "$busybox" bin/busybox
chmod 0755 bin/busybox
# One symlink per applet, where busybox --list-full says it lives.
bin/busybox --list-full | while read -r applet; do
  [ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > etc/passwd
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > etc/group
: > etc/hostname
chmod 1777 tmp var/tmp
if [ $bundle -eq 1 ]; then
  cd "$out"
  rm -f config.json
  ${WHARF:-wharf} oci spec
fi

#!/usr/bin/env bash
# Builds the opensnoop agent image with podman, offline from registries:
#   make build && deploy/build-image.sh [TAG]        (TAG defaults to localhost/opensnoop:latest)
#   BIN=DIR deploy/build-image.sh                     (binaries from DIR, not Tools/.build/release)
#
# 1. A minimal Debian bookworm root file system holding only the shared libraries the release
#    binaries load (libelf1, zlib1g, libstdc++6 and what they depend on: libc6, libgcc-s1; libbpf
#    is linked in), made by mmdebstrap from Debian's archive (--variant=extract: the packages'
#    files, no shell, no dpkg, no apt; about 15 MB; each package's control record is kept in /var/lib/dpkg/status.d/
#    as distroless images do, for image scanners). Cached as .build/fleet/bookworm-rootfs.tar:
#    delete it (or pass --refresh) to take newer packages, e.g. security updates.
# 2. `podman import` makes it the base image localhost/opensnoop-base:<sha256 of the tarball>.
# 3. `podman build -f deploy/Containerfile` COPYs Tools/.build/release/opensnoop and opensnoop-agent
#    (made by `make build`) onto it. See the Containerfile for why the binaries are not built in
#    a container.
# Running it again changes nothing unless the binaries, the Containerfile or the tarball did.
# Needs root (or a podman set up for it), podman, mmdebstrap; network access to the Debian mirror
# this machine's apt sources name (scripts/debian-mirrors.sh)
# only when the tarball is (re)made. Nothing is written outside .build/ and podman's storage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

refresh=0
if [ "${1:-}" = "--refresh" ]; then refresh=1; shift; fi
tag=${1:-localhost/opensnoop:latest}
read -r mirror security < <("$root/scripts/debian-mirrors.sh")
cache=$root/.build/fleet
tarball=$cache/bookworm-rootfs.tar
# mmdebstrap and podman keep temporary files here, not in /tmp.
export TMPDIR=$root/.build/tmp
mkdir -p "$cache" "$TMPDIR"

bin=${BIN:-$root/Tools/.build/release}
for binary in opensnoop opensnoop-agent; do
    if [ ! -x "$bin/$binary" ]; then
        echo "build-image: $bin/$binary is missing: run 'make build' first" >&2
        exit 1
    fi
done

if [ "$refresh" = 1 ] || [ ! -s "$tarball" ]; then
    echo "build-image: making $tarball with mmdebstrap (bookworm, bookworm-updates, bookworm-security)"
    # The same bytes for the same package versions (timestamps clamped, tar entries sorted).
    export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
    mmdebstrap --quiet --variant=extract --format=tar --include=libelf1,zlib1g,libstdc++6 \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --dpkgopt='path-exclude=/usr/share/gdb/*' --dpkgopt='path-exclude=/usr/share/gcc/*' \
        --extract-hook='ldconfig -r "$1"' \
        --extract-hook='mkdir -p "$1/var/lib/dpkg/status.d" && for deb in "$1"/var/cache/apt/archives/*.deb; do
              name=$(dpkg-deb -f "$deb" Package); { dpkg-deb -f "$deb"; echo "Status: install ok installed"; } \
                  > "$1/var/lib/dpkg/status.d/$name"; done' \
        bookworm "$cache/bookworm-rootfs.new.tar" \
        "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
    mv "$cache/bookworm-rootfs.new.tar" "$tarball"
fi

# The base image is named after its tarball's content: a new tarball is a new base.
sum=$(sha256sum "$tarball" | cut -c1-16)
base=localhost/opensnoop-base:$sum
if ! podman image exists "$base"; then
    podman import --quiet --message "Debian bookworm: libelf1 zlib1g libstdc++6 (mmdebstrap extract)" \
        "$tarball" "$base" >/dev/null
fi

# The build context: the two binaries only (not the repository and its .build).
context=$cache/context
rm -rf "$context"
mkdir -p "$context"
cp "$bin/opensnoop" "$bin/opensnoop-agent" "$context/"
podman build --quiet --pull=never --build-arg BASE="$base" -f deploy/Containerfile -t "$tag" "$context" >/dev/null
rm -rf "$context"
echo "build-image: $tag ($(podman image inspect --format '{{.Id}}' "$tag" | cut -c1-12), base $base)"

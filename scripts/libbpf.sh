#!/usr/bin/env bash
# Builds the static libbpf that `make build` links into the release binaries:
#   scripts/libbpf.sh [DIR]      (DIR defaults to .build/libbpf; the Makefile passes it)
# gives DIR/lib/libbpf.a (nothing else beside it, so the linker's -lbpf finds it before the
# system's libbpf.so), DIR/include (its headers and the kernel UAPI headers it ships) and
# DIR/VERSION (the Debian version built).
#
# Why: Debian 12 ships libbpf 1.1, which reads the kernel's BTF from sysfs and copies it;
# libbpf 1.6 and later map it. Measured with opensnoop: peak RSS 22.3 -> 14.1 MiB, 8-15 ms
# less CPU at start (README, "Benchmark"). Only the release build links it (the Makefile's
# RELEASE_FLAGS): BPFKit's users, debug builds and `swift test` keep the system's libbpf.
#
# What: the newest libbpf in Debian's sid (at least 1.6), from Debian's source package, built
# with libbpf's own Makefile (static only) and Debian's patches if it has any. Nothing is
# copied into the repository. Fetched through a private apt configuration under DIR.tmp (the
# machine's apt sources are left as they are) from the mirror this machine's apt sources name
# (scripts/debian-mirrors.sh); `apt-get source` checks the files against the signed Sources
# index. Without the archive it fails in one line: no fallback to the system's libbpf.
# Cached: once DIR/lib/libbpf.a exists this does nothing (about 20 s cold: 12 MB of index,
# 1 MB of source, the compile); `make clean` removes it, and the next build takes the newest
# libbpf again.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.build/libbpf}
dir=${dir%/}
[ -s "$dir/lib/libbpf.a" ] && [ -s "$dir/VERSION" ] && exit 0

die() { echo "libbpf.sh: $*" >&2; exit 1; }
start=$SECONDS
work=$dir.tmp
rm -rf "$work"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src" "$work/out"
work=$(realpath "$work")
apt=$work/apt
read -r mirror _ < <(scripts/debian-mirrors.sh) || die "no Debian mirror found (see scripts/debian-mirrors.sh)"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" >"$apt/sources.list"
cat >"$apt/apt.conf" <<EOF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
export APT_CONFIG=$apt/apt.conf

echo "libbpf.sh: fetching libbpf's source package from $mirror (sid)"
apt-get -qq --error-on=any update >"$apt/update.log" 2>&1 ||
	die "cannot fetch Debian's sid Sources index from $mirror ($(grep -m1 -E '^(E|W):' "$apt/update.log" || tail -n1 "$apt/update.log")); the release build needs it once to build libbpf"
(cd "$work/src" && apt-get -qq source --download-only libbpf) >"$apt/source.log" 2>&1 ||
	die "cannot download libbpf's source package: $(grep -m1 '^E:' "$apt/source.log" || tail -n1 "$apt/source.log")"
dsc=$(echo "$work"/src/libbpf_*.dsc)
[ -f "$dsc" ] || die "no libbpf .dsc was downloaded"
version=$(awk '/^Version:/ { print $2; exit }' "$dsc")
dpkg --compare-versions "$version" ge 1.6 || die "sid's libbpf is $version; the release build needs 1.6 or later"

# Unpack as dpkg-source would: the upstream tarball, Debian's directory over it, its patches.
tree=$work/src/libbpf
mkdir -p "$tree"
tar -xf "$(echo "$work"/src/libbpf_*.orig.tar.*)" -C "$tree" --strip-components=1
tar -xf "$(echo "$work"/src/libbpf_*.debian.tar.*)" -C "$tree"
if [ -s "$tree/debian/patches/series" ]; then
	grep -vE '^\s*(#|$)' "$tree/debian/patches/series" | while read -r patch options; do
		patch -d "$tree" -s ${options:--p1} <"$tree/debian/patches/$patch" || die "Debian's patch $patch does not apply"
	done
fi

echo "libbpf.sh: building libbpf $version (static) into $dir"
# libbpf's default flags without -Werror (a newer compiler's new warning must not stop the build).
make -C "$tree/src" -j"$(nproc)" BUILD_STATIC_ONLY=1 CFLAGS="-g -O2 -Wall -std=gnu89" \
	OBJDIR="$work/obj" DESTDIR="$work/out" PREFIX= LIBDIR=/lib INCLUDEDIR=/include UAPIDIR=/include \
	install install_uapi_headers >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log" >&2; die "building libbpf $version failed"; }
rm -rf "$work/out/lib/pkgconfig"
echo "$version" >"$work/out/VERSION"
rm -rf "$dir"
mv "$work/out" "$dir"
rm -rf "$work"
echo "libbpf.sh: libbpf $version ready in $dir ($((SECONDS - start)) s)"

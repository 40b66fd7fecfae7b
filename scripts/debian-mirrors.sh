#!/usr/bin/env bash
# Prints this machine's Debian mirror and security mirror ("MIRROR SECURITY"), as its own apt
# sources name them (the only package archives these machines reach); DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR override them. Used by the kernel matrix, the fleet checks and the image.
set -euo pipefail
mirrors=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null | sort -u)
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
mirror=${DEBIAN_MIRROR:-$(awk -v c="$codename" '$2 == c { print $1; exit }' <<<"$mirrors")}
security=${DEBIAN_SECURITY_MIRROR:-$(awk -v c="$codename-security" '$2 == c { print $1; exit }' <<<"$mirrors")}
if [ -z "$mirror" ] || [ -z "$security" ]; then
	echo "no Debian mirror in this machine's apt sources (set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR)" >&2
	exit 1
fi
echo "${mirror%/} ${security%/}"

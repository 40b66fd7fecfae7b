#!/usr/bin/env bash
# deploy/daemonset.yaml against Kubernetes' API schemas (OpenAPI, strict: no unknown fields) of
# the current releases, with PyPI's kubernetes-validate in a venv under .build/fleet/.
#   Tests/Fleet/schema-test.sh            (python3-venv; network to PyPI on the first run)
# Prints "N passed, N failed" last; exits 1 when a check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
versions=(1.33.0 1.34.0 1.35.0 1.36.0 1.37.0)
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }

venv=$repo/.build/fleet/venv
export TMPDIR=$repo/.build/tmp
mkdir -p "$TMPDIR"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0' \
        || { fail "pip install kubernetes-validate"; finish; }
fi
for version in "${versions[@]}"; do
    if out=$("$venv/bin/kubernetes-validate" --strict -k "$version" deploy/daemonset.yaml 2>&1); then
        pass "Kubernetes $version: $out"
    else
        fail "Kubernetes $version" "$out"
    fi
done
# The validator itself: a wrong type and an unknown field must be refused.
scratch=$(mktemp -d "$TMPDIR/schema-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
sed 's/hostPID: true/hostPID: "yes"/' deploy/daemonset.yaml >"$scratch/type.yaml"
sed 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: true\n            readOnlyRootFs: true/' deploy/daemonset.yaml >"$scratch/field.yaml"
for bad in type field; do
    if "$venv/bin/kubernetes-validate" --strict --quiet -k "${versions[-1]}" "$scratch/$bad.yaml" >/dev/null 2>&1; then
        fail "a DaemonSet with a wrong $bad was accepted: the check checks nothing"
    else
        pass "a DaemonSet with a wrong $bad is refused"
    fi
done
finish

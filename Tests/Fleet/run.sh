#!/usr/bin/env bash
# The fleet files, run for real (issue 25), one command for CI:
#   make build && Tests/Fleet/run.sh
# schema-test.sh (the DaemonSet against Kubernetes' schemas), image-test.sh (the image under
# podman with the DaemonSet's security context), systemd-test.sh (the unit under systemd in a
# qemu guest). Their environment variables pass through (BIN, FLEET_KERNEL, ...). Prints each
# one's output, then "N passed, N failed" over all of them; exits 1 when a check failed.
set -uo pipefail
cd "$(dirname "$0")"
passed=0
failed=0
for test in schema-test.sh image-test.sh systemd-test.sh; do
    echo "=== $test"
    start=$SECONDS
    out=$(./$test 2>&1)
    status=$?
    echo "$out"
    counts=$(tail -1 <<<"$out")
    if [[ $counts =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    fi
    # A test that stopped without its summary, or exited non-zero with none failed, counts as one failure.
    if [[ ! $counts =~ passed ]] || { [ "$status" != 0 ] && [[ $counts =~ \ 0\ failed$ ]]; }; then
        failed=$((failed + 1))
        echo "FAIL $test exited with status $status"
    fi
    echo "=== $test: $((SECONDS - start)) s"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# The runbook's incident drill, on a copy of the mining demo with the built-in `local` stack:
#
#   1. start the stack live (`lode up`) and wait until every check passes: data flows with fresh
#      timestamps, tag change -> gold within budget, Genie answers with rows;
#   2. commit a change that breaks the data path but looks harmless in review: the Zerobus
#      connector pointed at a "raw" table that does not exist;
#   3. `lode apply --verify --rollback-on-failure`: the flow checks fail, lode restores the
#      previous configuration by itself, data flows again, and the checks pass;
#   4. print the seconds from detection to validated recovery, and the incident report.
#
# Usage: examples/incident-drill.sh            (uses `lode` from PATH)
#        LODE=target/debug/lode examples/incident-drill.sh
#        KEEP=1 ...                             (keep the repository to look at)
set -euo pipefail

LODE=${LODE:-lode}
case "$LODE" in /*) ;; */*) LODE="$PWD/$LODE" ;; esac
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
up_pid=""
cleanup() {
    if [ -n "$up_pid" ]; then
        kill -INT "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*" >&2; }

cp -r "$here/manifests" "$work/manifests"
cd "$work/manifests"
rm -rf .lode
git init -q
git add -A
git -c user.name=drill -c user.email=drill@lode.invalid commit -qm "the mining demo"

step "1. Apply the demo and start the stack live"
"$LODE" apply --auto-approve >/dev/null
"$LODE" up >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
until grep -q '^Gateway:' "$work/up.out" 2>/dev/null; do
    kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
    sleep 0.2
done
cat "$work/up.out" >&2

step "   Waiting until every check passes (data has to flow through bronze, silver and gold)"
deadline=$((SECONDS + 180))
until "$LODE" verify >"$work/verify.out" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        cat "$work/verify.out" >&2
        echo "the stack did not become healthy within 180 s" >&2
        exit 1
    fi
    sleep 1
done
grep -E '^(PASS|FAIL)' "$work/verify.out" | cut -c1-110 >&2

step "2. A harmless-looking change: point the Zerobus connector at the raw table"
sed -i.bak 's|targetTable: ${ref.table.ot_telemetry_bronze.full_name}|targetTable: ${var.catalog}.${var.schema}.ot_telemetry_raw|' ignition/zerobus.yaml
rm -f ignition/zerobus.yaml.bak
git -c user.name=drill -c user.email=drill@lode.invalid commit -qam "zerobus: write to the raw telemetry table"
git show --stat --format='%h %s' HEAD >&2

step "3. lode apply --verify --rollback-on-failure"
set +e
"$LODE" apply --auto-approve --verify --rollback-on-failure >"$work/apply.out" 2>"$work/apply.err"
code=$?
set -e
grep -E '^(FAIL|Verification)|rolled back|Rolling back' "$work/apply.out" "$work/apply.err" | cut -c1-160 >&2 || true
if [ "$code" -eq 0 ]; then
    echo "the broken change was not detected" >&2
    exit 1
fi
seconds=$(sed -n 's/.*verified in \([0-9.]*\) s (detection to validated recovery).*/\1/p' "$work/apply.err" | head -n 1)
if [ -z "$seconds" ]; then
    cat "$work/apply.err" >&2
    echo "lode did not roll back" >&2
    exit 1
fi

step "   Data flows again"
"$LODE" verify --check telemetry_latency | cut -c1-110 >&2

step "4. The incident"
"$LODE" report incident
echo "detection to validated recovery: $seconds s"

#!/usr/bin/env bash
# A walkthrough of the GitOps loop on the mining demo, in a throwaway git repository under a
# temporary folder: apply, change a gateway script in a commit, plan, apply, `git revert` and
# apply (a rollback by commit), then `lode rollback --to HEAD~1` (a rollback without a commit),
# and back to HEAD. It uses the built-in `local` environment, so the "gateway" is the data
# directory manifests/.lode/local/ignition/ of the temporary repository and the Databricks
# workspace is lode's emulator, run in-process with its data in manifests/.lode/local/databricks/;
# nothing outside the temporary folder is touched.
#
#   examples/walkthrough.sh                               # lode on PATH
#   LODE=target/debug/lode examples/walkthrough.sh        # a particular binary
#   KEEP=1 examples/walkthrough.sh                        # keep the temporary folder
set -euo pipefail

LODE=${LODE:-lode}
# A relative path to the binary must survive the `cd` below.
if [[ "$LODE" == */* ]]; then
  LODE="$(cd "$(dirname "$LODE")" && pwd)/$(basename "$LODE")"
fi
command -v "$LODE" >/dev/null || { echo "walkthrough: cannot run \`$LODE\`; set LODE=/path/to/lode" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifests="$here/../manifests"
[[ -f "$manifests/lode.yaml" ]] || { echo "walkthrough: no manifests/lode.yaml next to examples/" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/lode-walkthrough.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
  trap 'echo; echo "The repository is kept in $work/repo"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

export NO_COLOR=1          # plain output, also on a terminal
export LODE_ENV=local      # ignore a LODE_ENV / LODE_DIR set in the caller's shell
unset LODE_DIR

step() { printf '\n==> %s\n' "$*"; }

# Runs a command that must exit with the given code (for `--detailed-exitcode`).
expect_exit() {
  local want=$1 code=0
  shift
  "$@" || code=$?
  if [[ $code -ne $want ]]; then
    echo "walkthrough: \`$*\` exited $code, expected $want" >&2
    exit 1
  fi
}

# The value the live gateway script holds now.
script_file="manifests/.lode/local/ignition/projects/mining_demo/ignition/timer/Fault Injection/handleTimerEvent.py"
live_value() {
  printf 'live gateway script: %s\n' "$(grep -o 'FAULT_MM_S = [0-9.]*' "$script_file" | head -n 1)"
}
expect_live() {
  live_value
  grep -q "FAULT_MM_S = $1 " "$script_file" || { echo "walkthrough: expected FAULT_MM_S = $1 live" >&2; exit 1; }
}

step "A git repository with a copy of manifests/ in $work/repo"
mkdir "$work/repo"
cd "$work/repo"
cp -R "$manifests" manifests
rm -rf manifests/.lode                     # lode's data of the source tree, if any
git init -q
git symbolic-ref HEAD refs/heads/main
git config user.name "lode walkthrough"
git config user.email "walkthrough@example.invalid"
git config commit.gpgsign false
git add -A
git commit -q -m "Mining demo"
git log --oneline

step "lode validate"
"$LODE" validate

step "lode apply: the first apply creates every resource (full output in $work/first-apply.txt)"
"$LODE" apply --auto-approve > "$work/first-apply.txt"
grep -E '^(Plan|Apply)' "$work/first-apply.txt"
expect_live 75.0

step "lode plan --detailed-exitcode: nothing to do, exit 0"
expect_exit 0 "$LODE" plan --detailed-exitcode

step "Edit the Fault Injection script in a commit: the fault levels off at 80 instead of 75 mm/s"
sed -e 's/^FAULT_MM_S = 75.0 /FAULT_MM_S = 80.0 /' manifests/ignition/scripts/fault_injection.py > "$work/edited.py"
mv "$work/edited.py" manifests/ignition/scripts/fault_injection.py
git commit -q -a -m "Fault injection: level off at 80 mm/s"
git log --oneline -n 1

step "lode plan --detailed-exitcode: one update, exit 2"
expect_exit 2 "$LODE" plan --detailed-exitcode

step "lode apply"
"$LODE" apply --auto-approve
expect_live 80.0

step "git revert HEAD, then lode apply: rolled back by a commit"
git revert --no-edit HEAD > /dev/null
git log --oneline -n 1
"$LODE" apply --auto-approve
expect_live 75.0

step "lode rollback --to HEAD~1: back to the edited script without a commit (reads HEAD~1 through git)"
"$LODE" rollback --to HEAD~1 --auto-approve
expect_live 80.0

step "lode plan --detailed-exitcode: the work tree (HEAD, the revert) differs from live again, exit 2"
expect_exit 2 "$LODE" plan --detailed-exitcode > /dev/null
echo "(plan shows the revert to apply)"

step "lode apply: live matches HEAD again"
"$LODE" apply --auto-approve
expect_live 75.0
expect_exit 0 "$LODE" plan --detailed-exitcode

step "Done"
git log --oneline

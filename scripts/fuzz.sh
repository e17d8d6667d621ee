#!/usr/bin/env bash
# Fuzzes manifest loading for a bounded time: `scripts/fuzz.sh [SECONDS]` (default 60).
#
# Installs cargo-fuzz when it is missing, seeds the corpus from the demo manifests, and runs the
# `manifest_load` target (fuzz/fuzz_targets/manifest_load.rs) until SECONDS have passed. A crash
# is saved under fuzz/artifacts/manifest_load/; turn each one into a regression test in
# crates/lode/tests/it/invalid_manifests.rs or crates/lode/src/manifest, then reproduce it with
# `scripts/fuzz.sh --repro fuzz/artifacts/manifest_load/crash-...`.
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags. The first build
# compiles every dependency with coverage instrumentation (10+ minutes on two cores); later runs
# reuse fuzz/target. Environment: FUZZ_SANITIZER (default `address`; `none` builds and runs
# faster), FUZZ_MAX_LEN (the largest input tried, default 65536 bytes). Inputs that load the whole
# demo take ~80 ms each under the sanitizer, single-file ones ~1 ms; libFuzzer is told to favour
# the fast ones.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
target=manifest_load

repro=""
if [[ "${1:-}" == "--repro" ]]; then
    repro=${2:?usage: scripts/fuzz.sh --repro ARTIFACT}
    seconds=0
else
    seconds=${1:-60}
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS] | --repro ARTIFACT" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz..." >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

if [[ -n "$repro" ]]; then
    exec cargo fuzz run --fuzz-dir "$root/fuzz" --sanitizer "$sanitizer" "$target" "$repro"
fi

# Seed corpus: every demo file, behind the byte that makes the target put it in its place
# (see DEMO in the target), each manifest also alone (high bit set) and as a new file.
corpus="$root/fuzz/corpus/$target"
if [[ ! -d "$corpus" ]] || [[ -z "$(ls -A "$corpus")" ]]; then
    mkdir -p "$corpus"
    python3 - "$root" "$corpus" <<'EOF'
import pathlib, re, sys
root, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
target = (root / "fuzz/fuzz_targets/manifest_load.rs").read_text()
block = target.split("const DEMO", 1)[1].split("];", 1)[0]
files = re.findall(r'"([^"]+)"', block)
for index, path in enumerate(files):
    data = (root / "manifests" / path).read_bytes()
    (corpus / f"slot{index:02}").write_bytes(bytes([index]) + data)
    if path.endswith(".yaml"):
        (corpus / f"alone{index:02}").write_bytes(bytes([0x80 | index]) + data)
    if path.endswith(".yaml") and path != "lode.yaml" and not path.startswith("environments/"):
        (corpus / f"added{index:02}").write_bytes(bytes([len(files)]) + data)
EOF
fi

echo "fuzzing $target for ${seconds}s (sanitizer: $sanitizer)" >&2
cargo fuzz run --fuzz-dir "$root/fuzz" --sanitizer "$sanitizer" "$target" "$corpus" -- \
    -max_total_time="$seconds" \
    -max_len="${FUZZ_MAX_LEN:-65536}" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -entropic_scale_per_exec_time=1 \
    -dict="$root/fuzz/manifest_load.dict" \
    -print_final_stats=1

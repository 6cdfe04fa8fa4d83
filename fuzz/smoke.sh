#!/usr/bin/env bash
# Short fuzzing run of every target (default 60 s each), from seeds built by the crate's
# own packet builders. Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: fuzz/smoke.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in wire_classify engine_packets snapshot_decode netlink_decode; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=2048 -print_final_stats=1 2>&1 \
        | grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|#[0-9]+ *DONE|==[0-9]+== ERROR|SUMMARY)" || true
    # libFuzzer exits non-zero on a crash; pipefail would hide the grep result, so check artifacts.
    if compgen -G "artifacts/$target/crash-*" >/dev/null; then
        echo "crash found in $target:"; ls "artifacts/$target"; exit 1
    fi
done
echo "fuzz smoke: no crash"

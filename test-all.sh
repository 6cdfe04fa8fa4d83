#!/usr/bin/env bash
# Everything CI checks, on a fresh Debian 12 machine, as root:
#   0. lint: cargo fmt --check, shellcheck over every shell script (scripts/lint.sh);
#   1. host: cargo test (unit, scenario, property, golden tests) and clippy;
#   2. luci: the LuCI app's files and data handling under node (a named stand-in for
#      LuCI's loader; LuCI's runtime is not available here, so no browser test);
#   3. daemon: the daemon on this host's kernel in namespaces, crafted IKE and ESP;
#   4. bpf: the tc ESP fast path (bpf/build.sh, clang) under BPF_PROG_TEST_RUN and attached, in
#      namespaces, then the daemon with esp_offload 1 in namespaces (tests/host/offload_netns.sh);
#   5. big-endian mips and little-endian mipsel: the same tests under qemu-user;
#   6. the QEMU lab (amd64): real IKE peers behind a NAT router, without and with the daemon,
#      alg-many (16 clients), the fault scenarios (faults), and the daemon scenarios again
#      with esp_offload 1;
#   7. the engine benchmark, quick run (prints figures; no pass/fail on speed).
# Installs what it needs (apt, rustup components, zig, qemu) on the way.
# Usage: ./test-all.sh [lint|host|luci|daemon|bpf|bigendian|lab|bench ...]   (default: all eight)
set -uo pipefail
cd "$(dirname "$0")" || exit 1

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(lint host luci daemon bpf bigendian lab bench)
log_dir=target/test-all
mkdir -p "$log_dir"
failed=()
passed_total=0
failed_total=0

# Sums the `test result:` lines of a cargo log into the running totals.
count_results() {
    local p f
    p=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$1" | awk '{s+=$4} END{print s+0}')
    f=$(grep -Eo '[0-9]+ failed;' "$1" | awk '{s+=$1} END{print s+0}')
    # Scripts that print a plain "N passed, M failed" line (the daemon test, the lab).
    p=$((p + $(grep -Ex '[0-9]+ passed, [0-9]+ failed' "$1" | awk '{s+=$1} END{print s+0}')))
    f=$((f + $(grep -Ex '[0-9]+ passed, [0-9]+ failed' "$1" | awk '{s+=$3} END{print s+0}')))
    passed_total=$((passed_total + p))
    failed_total=$((failed_total + f))
}

run_step() {
    local name=$1; shift
    local started=$SECONDS log="$log_dir/$name.log"
    echo
    echo "=== $name: $*"
    if "$@" 2>&1 | tee "$log"; then
        echo "=== $name: ok ($((SECONDS - started)) s)"
    else
        echo "=== $name: FAILED ($((SECONDS - started)) s), log: $log"
        failed+=("$name")
    fi
    count_results "$log"
}

host_tests() {
    rustup component add clippy >/dev/null 2>&1 || true
    cargo test --locked && cargo clippy --locked --all-targets -- -D warnings
}

# node's test runner over tests/luci; its "# pass N" / "# fail M" become the summary line.
luci_tests() {
    command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs >/dev/null; }
    local out rc
    out=$(node --test tests/luci/*.test.js 2>&1); rc=$?
    printf '%s\n' "$out"
    printf '%s\n' "$out" | awk '/^# pass /{p=$3} /^# fail /{f=$3} END{printf "%d passed, %d failed\n", p, f}'
    return $rc
}

# The QEMU lab on amd64: the CI suite (the multi-client failure without a daemon, NAT-T)
# and the daemon's scenarios with real IKE peers, using the static daemon binary.
lab_tests() {
    rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        cargo build --locked --release --target x86_64-unknown-linux-musl || return 1
    # alg-queue-burst's packet generator, static like the daemon, carried into the guest.
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        cargo build --locked --release --target x86_64-unknown-linux-musl --example espgen || return 1
    # alg-offload, and the second pass, take the fast path's object into the guest.
    command -v clang >/dev/null || { apt-get update -qq && apt-get install -y -qq clang >/dev/null; }
    bpf/build.sh target/bpf || return 1
    export ALG_BIN=$PWD/target/x86_64-unknown-linux-musl/release/ike-esp-alg
    export ALG_BPF=$PWD/target/bpf/esp_fastpath.bpfel.o
    export ALG_ESPGEN=$PWD/target/x86_64-unknown-linux-musl/release/examples/espgen
    # alg-many: 16 clients at once behind one address, the 30 s target (about 60 s of
    # QEMU time). faults: alg-wan-change, alg-conntrack-full, alg-queue-burst,
    # alg-phase2-flood and alg-state-full (about 11 minutes of QEMU time together).
    lab/ci.sh amd64 ci alg alg-many faults || return 1
    # The daemon scenarios again with esp_offload 1: the same checks, the SAs on the tc
    # program once promoted.
    mkdir -p target/lab
    awk '{ print } /^config alg / { print "\toption esp_offload '\''1'\''" }' lab/config/ike-esp-alg.uci \
        >target/lab/ike-esp-alg-offload.uci
    ALG_CONFIG=$PWD/target/lab/ike-esp-alg-offload.uci \
        ALG_ARGS="--bpf-object /opt/alg/esp_fastpath.o --bpf-pin /run/alg-bpffs/ike-esp-alg/esp_sa" \
        lab/ci.sh amd64 alg-plain-3 alg-ikev2-plain alg-rekey alg-kill9 alg-unsolicited-esp alg-natt-mixed alg-restart-load
}

daemon_tests() {
    # busybox: the rpcd plugin is also run under busybox ash and awk, as on the router.
    if ! { command -v nft && command -v iptables-nft && command -v conntrack && command -v python3 && command -v busybox; } >/dev/null; then
        apt-get update -qq && apt-get install -y -qq nftables iptables iproute2 conntrack python3 busybox >/dev/null
    fi
    cargo build --locked && tests/host/daemon_netns.sh target/debug/ike-esp-alg
}

# The eBPF fast path: the objects are built here, not by cargo (cargo never needs clang),
# and the tests load the little-endian one and run it in namespaces of their own (under
# BPF_PROG_TEST_RUN, then attached to a veth's clsact ingress hook).
bpf_tests() {
    command -v clang >/dev/null || { apt-get update -qq && apt-get install -y -qq clang >/dev/null; }
    bpf/build.sh target/bpf || return 1
    local rc=0 test
    for test in bpf_fastpath bpf_attach; do
        IKE_ESP_ALG_BPF_OBJECT=target/bpf/esp_fastpath.bpfel.o \
            cargo test --locked --test "$test" -- --test-threads=1 || rc=1
    done
    cargo build --locked && tests/host/offload_netns.sh target/debug/ike-esp-alg target/bpf/esp_fastpath.bpfel.o || rc=1
    return $rc
}

for step in "${steps[@]}"; do
    case $step in
    host) run_step host host_tests ;;
    lint) run_step lint scripts/lint.sh ;;
    luci) run_step luci luci_tests ;;
    daemon) run_step daemon daemon_tests ;;
    bpf) run_step bpf bpf_tests ;;
    bigendian) run_step bigendian scripts/test-bigendian.sh ;;
    lab) run_step lab lab_tests ;;
    bench) run_step bench cargo bench --locked --bench engine -- --quick ;;
    *) echo "unknown step: $step (lint, host, luci, daemon, bpf, bigendian, lab, bench)" >&2; exit 2 ;;
    esac
done

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}"
fi
echo "tests: $passed_total passed, $failed_total failed"
[ ${#failed[@]} -eq 0 ] && [ "$failed_total" -eq 0 ]

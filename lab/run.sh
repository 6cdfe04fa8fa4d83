#!/bin/bash
# shellcheck disable=SC2054 # commas in array elements belong to QEMU options
# Boot the lab guest under QEMU (TCG, no network device) and run scenarios in it.
#
#   lab/run.sh <amd64|arm64|mipsel> [scenario|set ...]        (default: ci)
#
# Sets: ci (baseline-plain-2 natt), alg (the daemon scenarios), faults (the longer fault
# scenarios), all (ci + alg).
# Single scenarios: baseline-plain-2 natt alg-plain-3 alg-ikev2-plain alg-rekey alg-kill9
# alg-unsolicited-esp alg-natt-mixed alg-restart-load alg-offload alg-many alg-many-settle0 alg-many-pool
# alg-wan-change alg-conntrack-full alg-queue-burst alg-phase2-flood alg-state-full bench-offload demo;
# "none" runs nothing (with SHELL_AFTER=1: a shell).
#
# Environment:
#   ALG_BIN=path      the project's daemon for this architecture; goes to /opt/alg/ike-esp-alg
#   ALG_CONFIG=path   its UCI config (default lab/config/ike-esp-alg.uci) -> /opt/alg/ike-esp-alg.uci
#   ALG_BPF=path      the eBPF fast path's object for this byte order (alg-offload);
#                     goes to /opt/alg/esp_fastpath.o
#   ALG_ESPGEN=path   a static espgen (examples/espgen.rs) for this architecture, the ESP
#                     packet generator of alg-queue-burst; goes to /opt/alg/espgen
#   ALG_ARGS="..."    extra arguments after "daemon --config /opt/alg/ike-esp-alg.uci"
#   MANY_N=n          clients in alg-many and alg-many-pool (default 16)
#   BENCH_REPS=n BENCH_S=s  bench-offload's repetitions (default 3) and seconds per window (5)
#   SHELL_AFTER=1     interactive: the console is this terminal, a shell follows the scenarios
#                     (Ctrl-A x quits QEMU)
#   TIMEOUT=s         wall-clock limit for QEMU (default 120 s + 240 s per scenario, 360 on mipsel)
#   VERBOSE=1         stream the whole console instead of the @@ lines and progress
#   LAB_DEBUG=1       trace the guest scripts (set -x)
#   NO_BUILD=1        don't call build-image.sh first (it is cached and quick when current)
#   ACCEL=kvm         use KVM (amd64 on a host where it works; not on the lab's machine)
#
# Output: lab/out/runs/<arch>-<time>/{console.log,results.txt,dumps.txt}, and
# lab/out/runs/<arch>-latest pointing to it. Exit status: 0 when every result is PASS or
# XFAIL and the guest printed @@DONE; 1 on any FAIL or XPASS; 3 when the run didn't finish.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
ARCH=${1:-}
[ $# -gt 0 ] && shift
case "$ARCH" in
amd64 | arm64 | mipsel) ;;
*) echo "usage: $0 <amd64|arm64|mipsel> [scenario ...]" >&2; exit 2 ;;
esac
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(ci)

OUT=${LAB_OUT:-$LAB/out}
IMG=$OUT/$ARCH
SHELL_AFTER=${SHELL_AFTER:-0}
ALG_CONFIG=${ALG_CONFIG:-$LAB/config/ike-esp-alg.uci}

log() { printf '[run %s] %s\n' "$ARCH" "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    "$LAB/build-image.sh" "$ARCH"
fi
if [ ! -s "$IMG/kernel" ] || [ ! -s "$IMG/initrd" ]; then
    log "no image in $IMG: run lab/build-image.sh $ARCH"
    exit 3
fi

RUN=$OUT/runs/$ARCH-$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$RUN"
# Keep the newest 20 runs per architecture.
find "$OUT/runs" -mindepth 1 -maxdepth 1 -type d -name "$ARCH-2*" | LC_ALL=C sort -r | tail -n +21 \
    | while read -r old; do rm -rf "$old"; done
ln -sfn "$(basename "$RUN")" "$OUT/runs/$ARCH-latest"

# --- overlay: the daemon and its configuration, in front of the image ------------------
# The kernel unpacks every archive in the initrd in order. An archive appended after the
# zstd-compressed one is silently ignored, so the overlay goes first. Its files sit under
# /overlay (the image is unpacked after it) and /init copies them over /.
ov=$RUN/overlay-root
mkdir -p "$ov/overlay/opt/alg" "$ov/overlay/etc/config"
if [ -n "${ALG_BIN:-}" ]; then
    [ -f "$ALG_BIN" ] || { log "ALG_BIN=$ALG_BIN does not exist"; exit 2; }
    install -m 0755 "$ALG_BIN" "$ov/overlay/opt/alg/ike-esp-alg"
    log "daemon: $ALG_BIN ($(file -b "$ALG_BIN" 2>/dev/null | cut -d, -f1-2))"
fi
if [ -n "${ALG_ESPGEN:-}" ]; then
    [ -f "$ALG_ESPGEN" ] || { log "ALG_ESPGEN=$ALG_ESPGEN does not exist"; exit 2; }
    install -m 0755 "$ALG_ESPGEN" "$ov/overlay/opt/alg/espgen"
fi
if [ -n "${ALG_BPF:-}" ]; then
    [ -f "$ALG_BPF" ] || { log "ALG_BPF=$ALG_BPF does not exist"; exit 2; }
    install -m 0644 "$ALG_BPF" "$ov/overlay/opt/alg/esp_fastpath.o"
fi
if [ -n "${ALG_ARGS:-}" ]; then
    printf '%s\n' "$ALG_ARGS" >"$ov/overlay/opt/alg/ike-esp-alg.args"
fi
[ -f "$ALG_CONFIG" ] || { log "ALG_CONFIG=$ALG_CONFIG does not exist"; exit 2; }
install -m 0644 "$ALG_CONFIG" "$ov/overlay/opt/alg/ike-esp-alg.uci"
for f in firewall network; do
    [ -f "$LAB/config/$f" ] && install -m 0644 "$LAB/config/$f" "$ov/overlay/etc/config/$f"
done
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$RUN/overlay.cpio"
cat "$RUN/overlay.cpio" "$IMG/initrd" >"$RUN/initrd"
rm -rf "$ov"

# --- QEMU -------------------------------------------------------------------------------
names=$(IFS=,; echo "${SCENARIOS[*]}")
MANY_N=${MANY_N:-16}
case "$MANY_N" in '' | *[!0-9]*) log "MANY_N=$MANY_N is not a number"; exit 2 ;; esac
if [ "$MANY_N" -lt 1 ] || [ "$MANY_N" -gt 200 ]; then log "MANY_N=$MANY_N: 1 to 200"; exit 2; fi
append="panic=-1 quiet loglevel=1 lab.scenarios=$names lab.shell=$SHELL_AFTER lab.debug=${LAB_DEBUG:-0}"
append="$append lab.many=$MANY_N"
BENCH_REPS=${BENCH_REPS:-3} BENCH_S=${BENCH_S:-5}
case "$BENCH_REPS$BENCH_S" in *[!0-9]*) log "BENCH_REPS and BENCH_S are whole numbers"; exit 2 ;; esac
if [ "$BENCH_REPS" -lt 1 ] || [ "$BENCH_S" -lt 1 ] || [ "$BENCH_REPS" -gt 50 ] || [ "$BENCH_S" -gt 60 ]; then
    log "BENCH_REPS 1 to 50, BENCH_S 1 to 60"; exit 2
fi
append="$append lab.bench_reps=$BENCH_REPS lab.bench_s=$BENCH_S"
accel=${ACCEL:-tcg}
case "$ARCH" in
amd64)
    qemu=(qemu-system-x86_64 -machine pc -cpu max -smp 2 -m 1024)
    append="console=ttyS0 $append"
    default_timeout=240
    ;;
arm64)
    qemu=(qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on -smp 2 -m 1024)
    append="console=ttyAMA0 $append"
    default_timeout=240
    ;;
mipsel)
    # malta with the 4kc kernel: one CPU, no HIGHMEM, so the guest sees 256 MB at most.
    qemu=(qemu-system-mipsel -machine malta -cpu 24Kf -smp 1 -m 256)
    append="console=ttyS0 $append"
    default_timeout=360
    ;;
esac
if [ "$accel" = tcg ] && [ "$ARCH" != mipsel ]; then
    qemu+=(-accel tcg,thread=multi)
else
    qemu+=(-accel "$accel")
fi
# The default limit grows with the number of scenarios (sets count as their members; the
# many-client ones as their watchdog in the guest, which grows with MANY_N).
n=0 extra=0
for sc in "${SCENARIOS[@]}"; do
    case "$sc" in
    ci) n=$((n + 2)) ;;
    alg) n=$((n + 8)) ;;
    faults) n=$((n + 5)) ;;
    all) n=$((n + 10)) ;;
    alg-many-settle0) extra=$((extra + 2 * (240 + 15 * MANY_N))) ;;
    alg-many | alg-many-pool) extra=$((extra + 240 + 15 * MANY_N)) ;;
    bench-offload) extra=$((extra + 120 + BENCH_REPS * 3 * (2 * BENCH_S + 40))) ;;
    none) ;;
    *) n=$((n + 1)) ;;
    esac
done
TIMEOUT=${TIMEOUT:-$((120 + n * default_timeout + extra))}
qemu+=(-display none -no-reboot -nic none
    -chardev "stdio,id=con0,mux=on,signal=off,logfile=$RUN/console.log"
    -serial chardev:con0 -mon chardev=con0,mode=readline
    -kernel "$IMG/kernel" -initrd "$RUN/initrd" -append "$append")

log "scenarios: ${SCENARIOS[*]}; console: $RUN/console.log"
t0=$SECONDS
set +e
if [ "$SHELL_AFTER" = 1 ]; then
    log "interactive: a shell follows the scenarios; 'exit' powers off, Ctrl-A x quits QEMU"
    "${qemu[@]}"
    qrc=$?
else
    # Progress: the machine-readable lines and the scenarios' own messages.
    timeout -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null 2> >(tee "$RUN/qemu.stderr" >&2) \
        | tr -d '\r' | while IFS= read -r line; do
        if [ "${VERBOSE:-0}" = 1 ]; then
            printf '%s\n' "$line"
        else
            case "$line" in
            @@DUMP-BEGIN*) dumping=1 ;;
            @@DUMP-END*) dumping=0 ;;
            @@* | \[*\]\ *) [ "${dumping:-0}" = 1 ] || printf '%s\n' "$line" ;;
            esac
        fi
    done
    qrc=${PIPESTATUS[0]}
fi
set -e
wall=$((SECONDS - t0))
rm -f "$RUN/initrd" "$RUN/overlay.cpio"
[ -s "$RUN/qemu.stderr" ] || rm -f "$RUN/qemu.stderr"

# --- results ----------------------------------------------------------------------------
tr -d '\r' <"$RUN/console.log" >"$RUN/console.tmp" && mv "$RUN/console.tmp" "$RUN/console.log"
grep -a '^@@RESULT ' "$RUN/console.log" | cut -d' ' -f2- >"$RUN/results.txt" || true
sed -n '/^@@DUMP-BEGIN/,/^@@DUMP-END/p' "$RUN/console.log" >"$RUN/dumps.txt"
[ -s "$RUN/dumps.txt" ] || rm -f "$RUN/dumps.txt"

count() { awk -v s="$1" '$3 == s { n++ } END { print n + 0 }' "$RUN/results.txt"; }
pass=$(count PASS) fail=$(count FAIL) xfail=$(count XFAIL) xpass=$(count XPASS)
done_seen=0
grep -aq '^@@DONE' "$RUN/console.log" && done_seen=1

echo
echo "== lab $ARCH: ${SCENARIOS[*]} =="
if [ -s "$RUN/results.txt" ]; then
    awk '{ printf "  %-6s %-22s %-28s %s\n", $3, $1, $2, substr($0, length($1 $2 $3) + 4) }' "$RUN/results.txt"
fi
grep -a '^@@SCENARIO .* END' "$RUN/console.log" | awk '{ printf "  scenario %-22s %s s (guest time)\n", $2, $4 }' || true
echo "  PASS $pass  FAIL $fail  XFAIL $xfail  XPASS $xpass   QEMU wall time ${wall} s (exit $qrc)"
echo "$pass passed, $((fail + xpass)) failed"
echo "  logs: $RUN"

rc=0
if [ "$fail" -gt 0 ] || [ "$xpass" -gt 0 ]; then
    rc=1
    if [ -f "$RUN/dumps.txt" ]; then
        echo
        echo "== state after the failure (daemon log, router nft ruleset, conntrack -L/-S, SAs) =="
        cat "$RUN/dumps.txt"
    fi
fi
if [ "$done_seen" != 1 ]; then
    echo "!! the guest did not finish (no @@DONE; QEMU exit $qrc after ${wall} s, limit ${TIMEOUT:-} s)."
    if [ -s "$RUN/qemu.stderr" ]; then
        echo "QEMU's stderr:"
        cat "$RUN/qemu.stderr"
    fi
    echo "Last console lines:"
    tail -n 30 "$RUN/console.log"
    rc=3
fi
exit $rc

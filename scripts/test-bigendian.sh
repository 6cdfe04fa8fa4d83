#!/usr/bin/env bash
# The crate's unit and integration tests on the MIPS router targets under qemu-user:
# big-endian mips and little-endian mipsel, each in debug and in release.
#
#   scripts/test-bigendian.sh [-- extra cargo args, as for scripts/xbuild.sh]
#
# Installs what is missing first (scripts/setup-cross.sh, idempotent, needs root).
# Runs every step even after a failure, prints each step's `test result:` lines and time,
# and exits non-zero if any step failed (build error, test failure, qemu crash).
# Logs: $CARGO_TARGET_DIR/logs (default target/cross/logs).
# BIGENDIAN_STEP_TIMEOUT: seconds per step before it is killed and failed (default 1200).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/cross}"
logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$logs"

t_all=${EPOCHREALTIME/[.,]/}
secs() { local d=$(( ${EPOCHREALTIME/[.,]/} - $1 )); printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10)); }

if ! "$here/setup-cross.sh"; then
    echo "test-bigendian: setup failed" >&2
    exit 1
fi

steps=("mips test" "mips test-release" "mipsel test" "mipsel test-release")
summary=()
failed=0 passed_total=0 failed_total=0 ignored_total=0
for step in "${steps[@]}"; do
    read -r arch action <<<"$step"
    log="$logs/$arch-$action.log"
    echo "=== test-bigendian: $arch $action (log: $log)"
    t=${EPOCHREALTIME/[.,]/}
    # A hang under qemu (see XBUILD_MIPS_SKIP in xbuild.sh) must not eat CI's time budget:
    # timeout kills the step's whole process group, qemu included.
    timeout -k 30 "${BIGENDIAN_STEP_TIMEOUT:-1200}" "$here/xbuild.sh" "$arch" "$action" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    took=$(secs "$t")
    results=$(grep -E '^test result: ' "$log" || true)
    p=0 f=0 i=0
    while read -r line; do
        [ -n "$line" ] || continue
        [[ $line =~ ([0-9]+)\ passed ]] && p=$((p + BASH_REMATCH[1]))
        [[ $line =~ ([0-9]+)\ failed ]] && f=$((f + BASH_REMATCH[1]))
        [[ $line =~ ([0-9]+)\ ignored ]] && i=$((i + BASH_REMATCH[1]))
        [[ $line =~ ([0-9]+)\ filtered\ out ]] && i=$((i + BASH_REMATCH[1]))
    done <<<"$results"
    passed_total=$((passed_total + p)) failed_total=$((failed_total + f)) ignored_total=$((ignored_total + i))
    if [ "$rc" -ne 0 ] || [ -z "$results" ]; then
        failed=1
        status="FAILED (exit $rc)"
        [ -z "$results" ] && [ "$rc" -eq 0 ] && status="FAILED (no test ran)"
        [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status="TIMEOUT (${BIGENDIAN_STEP_TIMEOUT:-1200} s)"
    else
        status=ok
    fi
    summary+=("$(printf '%-7s %-13s %-22s %6s s   %d passed, %d failed, %d skipped' \
        "$arch" "$action" "$status" "$took" "$p" "$f" "$i")")
    # Per test binary: "<binary>: ok, N passed, ...". Reworded from cargo's `test result:`
    # lines so that a wrapper summing those lines over this output counts each once.
    name='?'
    while read -r line; do
        case $line in
            Running\ *) name=${line#Running }; name=${name%% (*}; name=${name#unittests } ;;
            test\ result:\ *) line=${line#test result: }; line=${line//;/,}; line=${line/. /, }
                summary+=("        $name: $line") ;;
        esac
    done < <(grep -E '^ *Running |^test result: ' "$log")
done

echo
echo "=== test-bigendian summary (qemu-user; mips = big-endian, mipsel = little-endian)"
printf '%s\n' "${summary[@]}"
echo "test-bigendian: total $(secs "$t_all") s, logs in $logs"
# Totals over the four steps, in the plain "N passed, N failed, N skipped" form (skipped =
# #[ignore]d tests plus those filtered out, such as XBUILD_MIPS_SKIP's).
echo "bigendian: $passed_total passed, $failed_total failed, $ignored_total skipped"
if [ $failed -ne 0 ]; then
    echo "test-bigendian: FAILED" >&2
    exit 1
fi

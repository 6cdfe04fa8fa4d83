#!/bin/bash
# The lab's CI entry: host dependencies, image (cached), scenario suite, per architecture.
#
#   lab/ci.sh <amd64|arm64|mipsel|all> [scenario|set ...]     (default suite: ci)
#
# The default suite is "ci": baseline-plain-2 (the multi-client failure, expected to fail:
# XFAIL) and natt (strongSwan NAT-T clients, must pass). The daemon scenarios (set "alg")
# are not in it; run them with a daemon binary:
#   ALG_BIN=target/x86_64-unknown-linux-musl/release/ike-esp-alg lab/ci.sh amd64 ci alg
# For "all", give one binary per architecture: ALG_BIN_amd64, ALG_BIN_arm64, ALG_BIN_mipsel.
#
# Exits non-zero when any architecture fails. Times go to lab/out/ci-times.txt.
# Environment: NO_DEPS=1 skips the apt step; NO_LINT=1 skips shellcheck.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
target=${1:-}
[ $# -gt 0 ] && shift
case "$target" in
amd64 | arm64 | mipsel) arches=("$target") ;;
all) arches=(amd64 arm64 mipsel) ;;
*) echo "usage: $0 <amd64|arm64|mipsel|all> [scenario ...]" >&2; exit 2 ;;
esac
suite=("$@")
[ ${#suite[@]} -gt 0 ] || suite=(ci)

log() { printf '[ci] %s\n' "$*" >&2; }

# --- host dependencies (idempotent: only what is missing is installed) ---------------------
deps() {
    local pkgs=(mmdebstrap cpio zstd kmod binutils file ca-certificates debian-archive-keyring shellcheck)
    local a
    for a in "${arches[@]}"; do
        case "$a" in
        amd64) pkgs+=(qemu-system-x86) ;;
        arm64) pkgs+=(qemu-system-arm) ;;
        mipsel) pkgs+=(qemu-system-mips) ;;
        esac
    done
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "host dependencies present"
        return 0
    fi
    log "installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

lint() {
    command -v shellcheck >/dev/null || { log "shellcheck not installed, lint skipped"; return 0; }
    (cd "$LAB" && shellcheck -x build-image.sh run.sh ci.sh demo.sh testing/null-daemon.sh \
        && cd guest && shellcheck -x -s dash init run-scenarios.sh shellrc.sh updown-noop.sh \
        && shellcheck -x -s dash -e SC2034 lib.sh topo.sh peers.sh alg.sh scenarios.sh)
    log "shellcheck clean"
}

t_all=$SECONDS
if [ "${NO_DEPS:-0}" != 1 ]; then
    t=$SECONDS
    deps
    log "dependencies: $((SECONDS - t)) s"
fi
[ "${NO_LINT:-0}" = 1 ] || lint

mkdir -p "$LAB/out"
summary=()
rc=0
for a in "${arches[@]}"; do
    bin_var=ALG_BIN_$a
    bin=${!bin_var:-}
    [ -z "$bin" ] && [ ${#arches[@]} -eq 1 ] && bin=${ALG_BIN:-}
    t=$SECONDS
    if ! "$LAB/build-image.sh" "$a"; then
        summary+=("$a: image build FAILED after $((SECONDS - t)) s")
        rc=1
        continue
    fi
    t_build=$((SECONDS - t))
    t=$SECONDS
    set +e
    ALG_BIN=$bin NO_BUILD=1 "$LAB/run.sh" "$a" "${suite[@]}"
    r=$?
    set -e
    t_suite=$((SECONDS - t))
    status=PASS
    [ $r -eq 0 ] || { status="FAIL (run.sh exit $r)"; rc=1; }
    line="$a: image ${t_build} s, suite ${t_suite} s [${suite[*]}${bin:+, daemon $bin}]: $status"
    summary+=("$line")
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >>"$LAB/out/ci-times.txt"
done

echo
echo "== lab/ci.sh $target: $((SECONDS - t_all)) s in all =="
printf '  %s\n' "${summary[@]}"
exit $rc

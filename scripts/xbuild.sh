#!/usr/bin/env bash
# Cross-build and cross-test ike-esp-alg for the OpenWrt router targets.
#
#   scripts/xbuild.sh <arch> <action> [-- extra cargo args]
#
#   arch:    mipsel   mipsel-unknown-linux-musl       (ramips mipsel_24kc)
#            mips     mips-unknown-linux-musl         (ath79 mips_24kc, big-endian)
#            armv7    armv7-unknown-linux-musleabihf  (ipq40xx, ...)
#            aarch64  aarch64-unknown-linux-musl      (filogic, armsr, ...)
#            all      the four, one after the other (continues past a failure, exits 1)
#   action:  build         stripped static release binary, smoke-run under qemu-user
#            size          build, then print `file`, stripped size and xz -9e size
#            test          unit + integration tests (debug) under qemu-user
#            test-release  the same in release, with panic=unwind (libtest needs unwinding;
#                          release + build-std + panic=abort fails with E0152)
#
#   Extra args go to cargo, e.g.
#     scripts/xbuild.sh mips test -- --test engine          # one integration test target
#     scripts/xbuild.sh mips test -- -- --skip live_        # args for the test harness
#   Without a target-selection arg, tests run with `--lib --bins --tests` (no doctests:
#   they would need rustdoc against the from-source std).
#
# Environment:
#   CARGO_TARGET_DIR  default <repo>/target/cross (keeps clear of the host build's lock)
#   SMALL=1           -Zbuild-std-features=optimize_for_size (drops std's backtrace
#                     symbolizer; ~22 % smaller). Separate std build.
#   XBUILD_DEPS_OPT   opt-level of std and dependencies in `test` (debug) runs; default 2,
#                     0 = plain dev profile (slow under qemu: std is built from source).
#   RUSTFLAGS         appended to the per-target rustflags of .cargo/config.toml (an
#                     environment RUSTFLAGS would otherwise replace them).
#   IKE_NIGHTLY, IKE_XTOOLS, ZIG_GLOBAL_CACHE_DIR: see scripts/cross-env.sh.
#
# One-time setup: scripts/setup-cross.sh (root, Debian 12).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/cross-env.sh
. "$here/cross-env.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 2 ] || usage
arch=$1 action=$2
shift 2
extra=()
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
    extra=("$@")
fi
case $action in build|size|test|test-release) ;; *) usage ;; esac

triple_of() {
    case $1 in
        mipsel) echo mipsel-unknown-linux-musl ;;
        mips) echo mips-unknown-linux-musl ;;
        armv7) echo armv7-unknown-linux-musleabihf ;;
        aarch64) echo aarch64-unknown-linux-musl ;;
        *) return 1 ;;
    esac
}
qemu_of() {
    case $1 in
        mipsel) echo qemu-mipsel-static ;;
        mips) echo qemu-mips-static ;;
        armv7) echo qemu-arm-static ;;
        aarch64) echo qemu-aarch64-static ;;
    esac
}

if [ "$arch" = all ]; then
    rc=0
    for a in mipsel mips armv7 aarch64; do
        "${BASH_SOURCE[0]}" "$a" "$action" ${extra[@]+-- "${extra[@]}"} || { rc=1; echo "xbuild: $a $action FAILED" >&2; }
    done
    exit $rc
fi
triple=$(triple_of "$arch") || usage

if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! command -v "$(qemu_of "$arch")" >/dev/null 2>&1; then
    echo "xbuild: cargo-zigbuild or $(qemu_of "$arch") missing: run scripts/setup-cross.sh" >&2
    exit 1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/cross}"
export RUSTUP_TOOLCHAIN="$IKE_NIGHTLY"     # `cargo-zigbuild test +nightly` would not select it

cargo_args=("-Zbuild-std=std,panic_abort" --target "$triple")
[ "${SMALL:-0}" = 1 ] && cargo_args+=(-Zbuild-std-features=optimize_for_size)

# Extra rustflags go through --config so that they append to .cargo/config.toml's
# target.<triple>.rustflags instead of replacing them.
rf=()
case $arch in
    armv7|aarch64) rf+=(-C link-self-contained=no) ;;   # MIPS: already in config.toml
esac
# The release binary aborts on panic and never prints a backtrace, so unwind tables
# (.eh_frame, 59 KB of a 816 KB mipsel SMALL=1 build) are dead weight. Tests keep them:
# libtest's panic=unwind needs them.
case $action in
    build|size) rf+=(-C force-unwind-tables=no) ;;
esac
if [ -n "${RUSTFLAGS:-}" ]; then
    read -r -a user_rf <<<"$RUSTFLAGS"
    rf+=("${user_rf[@]}")
    unset RUSTFLAGS
fi
unset CARGO_ENCODED_RUSTFLAGS
if [ ${#rf[@]} -gt 0 ]; then
    toml="["
    for f in "${rf[@]}"; do
        f=${f//\\/\\\\}; f=${f//\"/\\\"}
        toml+="\"$f\","
    done
    toml="${toml%,}]"
    cargo_args+=(--config "target.$triple.rustflags=$toml")
fi

has_target_selection() {
    local a
    for a in ${extra[@]+"${extra[@]}"}; do
        case $a in
            --) return 1 ;;
            --lib|--bin|--bin=*|--bins|--test|--test=*|--tests|--bench|--bench=*|--benches|\
            --example|--example=*|--examples|--all-targets|--doc) return 0 ;;
        esac
    done
    return 1
}

t0=${EPOCHREALTIME/[.,]/}
elapsed() { local d=$(( ${EPOCHREALTIME/[.,]/} - t0 )); printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10)); }

cd "$repo"
bin="$CARGO_TARGET_DIR/$triple/release/ike-esp-alg"
qemu=$(qemu_of "$arch")

case $action in
build|size)
    echo "xbuild: $arch: cargo-zigbuild build --release ${cargo_args[*]} ${extra[*]-}" >&2
    cargo-zigbuild build --release --bins "${cargo_args[@]}" ${extra[@]+"${extra[@]}"}
    echo "xbuild: $arch build took $(elapsed) s" >&2
    desc=$(file -b "$bin")
    case $desc in
        *static-pie*|*dynamically*|*interpreter*)
            echo "xbuild: $arch: expected a static non-PIE executable, got: $desc" >&2
            exit 1 ;;
    esac
    # Smoke test: the binary starts and prints its version under qemu-user.
    if ! out=$("$qemu" "$bin" version 2>&1); then
        echo "xbuild: $arch: '$qemu $bin version' failed: $out" >&2
        exit 1
    fi
    echo "xbuild: $arch: $out (under $qemu)" >&2
    if [ "$action" = size ]; then
        bytes=$(stat -c %s "$bin")
        xzb=$(xz -9e -T1 -c "$bin" | wc -c)
        printf '%s\n' "$bin: $desc"
        printf '%-8s %-32s stripped %9d B   xz -9e %8d B%s\n' "$arch" "$triple" "$bytes" "$xzb" \
            "$([ "${SMALL:-0}" = 1 ] && echo '   (SMALL=1)')"
    fi
    ;;
test|test-release)
    sel=()
    has_target_selection || sel=(--lib --bins --tests)
    rel=()
    if [ "$action" = test ] && [ "${XBUILD_DEPS_OPT:-2}" != 0 ]; then
        # build-std compiles std with the active profile, so a debug test run would use an
        # unoptimised std (the host's prebuilt std is optimised). Optimise std and the
        # dependencies; the crate itself stays at opt-level 0 with debug assertions. Under
        # qemu this makes the property tests ~4-7x faster.
        rel=(--config "profile.dev.package.\"*\".opt-level=${XBUILD_DEPS_OPT:-2}")
    fi
    if [ "$action" = test-release ]; then
        rel=(--release)
        export CARGO_PROFILE_RELEASE_PANIC=unwind
    fi
    echo "xbuild: $arch: cargo-zigbuild test --no-fail-fast ${rel[*]-} ${sel[*]-} ${cargo_args[*]} ${extra[*]-}" >&2
    # Known qemu-user gaps on big-endian MIPS, skipped there (XBUILD_MIPS_SKIP: space-
    # separated libtest --skip filters; empty, the default, skips nothing). qemu 7.2
    # byte-swaps only the rtnetlink attributes it knows; newer ones from the host kernel
    # reach the guest unswapped. musl's getifaddrs() looped forever on such a length; the
    # daemon's own rtnetlink reader (netlink::route) checks every length instead, so its
    # test runs there too.
    if [ "$arch" = mips ]; then
        skips=${XBUILD_MIPS_SKIP-}
        if [ -n "$skips" ]; then
            harness=()
            for s in $skips; do harness+=(--skip "$s"); done
            echo "xbuild: mips: skipping under qemu-user (big-endian rtnetlink gap): $skips" >&2
            has_sep=0
            for a in ${extra[@]+"${extra[@]}"}; do [ "$a" = -- ] && has_sep=1; done
            [ $has_sep = 1 ] || extra+=(--)
            extra+=("${harness[@]}")
        fi
    fi
    # --no-fail-fast: run every test binary, so one failure does not hide the others.
    cargo-zigbuild test --no-fail-fast ${rel[@]+"${rel[@]}"} ${sel[@]+"${sel[@]}"} "${cargo_args[@]}" ${extra[@]+"${extra[@]}"}
    echo "xbuild: $arch $action took $(elapsed) s" >&2
    ;;
esac

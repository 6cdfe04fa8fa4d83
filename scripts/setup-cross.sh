#!/usr/bin/env bash
# Install everything scripts/xbuild.sh needs on a Debian 12 x86-64 machine, as root.
# Idempotent: when everything is present it only checks, in about a second.
#
#   scripts/setup-cross.sh            # install what is missing
#   scripts/setup-cross.sh --check    # report what is missing, install nothing (exit 1 if any)
#
# Installs:
#   apt:    qemu-user-static python3-venv xz-utils file
#   rustup: $IKE_NIGHTLY toolchain (minimal profile) + rust-src,
#           stable target aarch64-unknown-linux-musl (prebuilt std, rust-lld route)
#   venv:   $IKE_XTOOLS with ziglang==$IKE_ZIGLANG_VERSION, cargo-zigbuild==$IKE_CARGO_ZIGBUILD_VERSION
#
# mips/mipsel-musl are tier 3 (no prebuilt std); armv7-musleabihf's prebuilt std is not on
# every rustup mirror. xbuild.sh therefore builds std from source (-Zbuild-std) for all four
# targets, linking with zig, which brings its own musl for each of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/cross-env.sh
. "$here/cross-env.sh"

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

missing=()
note() { printf 'setup-cross: %s\n' "$*" >&2; }

# --- apt ------------------------------------------------------------------------------
apt_pkgs=(qemu-user-static python3-venv xz-utils file)
need_apt=()
for p in "${apt_pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        need_apt+=("$p")
    fi
done
if [ ${#need_apt[@]} -gt 0 ]; then
    missing+=("apt:${need_apt[*]}")
    if [ $check_only = 0 ]; then
        note "apt-get install ${need_apt[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    fi
fi

# --- rustup -----------------------------------------------------------------------------
if ! command -v rustup >/dev/null 2>&1; then
    note "rustup not found: install it (https://rustup.rs) and re-run"
    exit 1
fi
if ! rustup run "$IKE_NIGHTLY" rustc -V >/dev/null 2>&1; then
    missing+=("rustup:$IKE_NIGHTLY")
    if [ $check_only = 0 ]; then
        note "rustup toolchain install $IKE_NIGHTLY"
        rustup toolchain install "$IKE_NIGHTLY" --profile minimal --component rust-src
    fi
fi
nightly_sysroot=$(rustup run "$IKE_NIGHTLY" rustc --print sysroot 2>/dev/null || true)
if [ -z "$nightly_sysroot" ] || [ ! -f "$nightly_sysroot/lib/rustlib/src/rust/library/Cargo.lock" ]; then
    missing+=("rustup:$IKE_NIGHTLY/rust-src")
    if [ $check_only = 0 ]; then
        note "rustup component add rust-src --toolchain $IKE_NIGHTLY"
        rustup component add rust-src --toolchain "$IKE_NIGHTLY"
    fi
fi
# With -Zbuild-std, zig's linker warns "unable to open library directory
# .../rustlib/<triple>/lib" on every link, because no prebuilt std is installed there.
# An empty directory silences it and changes nothing else.
if [ -n "$nightly_sysroot" ] && [ $check_only = 0 ]; then
    for t in mipsel-unknown-linux-musl mips-unknown-linux-musl armv7-unknown-linux-musleabihf \
             aarch64-unknown-linux-musl; do
        [ -d "$nightly_sysroot/lib/rustlib/$t/lib" ] || mkdir -p "$nightly_sysroot/lib/rustlib/$t/lib"
    done
fi
stable_sysroot=$(rustup run stable rustc --print sysroot)
if [ ! -d "$stable_sysroot/lib/rustlib/aarch64-unknown-linux-musl/lib" ]; then
    missing+=("rustup:stable/aarch64-unknown-linux-musl")
    if [ $check_only = 0 ]; then
        note "rustup target add --toolchain stable aarch64-unknown-linux-musl"
        rustup target add --toolchain stable aarch64-unknown-linux-musl
    fi
fi

# --- venv: zig + cargo-zigbuild ---------------------------------------------------------
venv_ok() {
    [ -x "$IKE_XTOOLS/bin/python" ] || return 1
    [ "$("$IKE_XTOOLS/bin/python" -m ziglang version 2>/dev/null)" = "$IKE_ZIGLANG_VERSION" ] || return 1
    "$IKE_XTOOLS/bin/cargo-zigbuild" --version 2>/dev/null | grep -qF " $IKE_CARGO_ZIGBUILD_VERSION" || return 1
}
if ! venv_ok; then
    missing+=("venv:$IKE_XTOOLS")
    if [ $check_only = 0 ]; then
        note "venv $IKE_XTOOLS: ziglang==$IKE_ZIGLANG_VERSION cargo-zigbuild==$IKE_CARGO_ZIGBUILD_VERSION"
        [ -x "$IKE_XTOOLS/bin/python" ] || /usr/bin/python3 -m venv "$IKE_XTOOLS"
        "$IKE_XTOOLS/bin/python" -m pip install -q --disable-pip-version-check \
            "ziglang==$IKE_ZIGLANG_VERSION" "cargo-zigbuild==$IKE_CARGO_ZIGBUILD_VERSION"
        # cargo-zigbuild looks for `zig` on PATH before falling back to `python -m ziglang`.
        cat > "$IKE_XTOOLS/bin/zig" <<ZIG
#!/bin/sh
exec "$IKE_XTOOLS/bin/python" -m ziglang "\$@"
ZIG
        chmod +x "$IKE_XTOOLS/bin/zig"
        venv_ok || { note "venv check still fails after install"; exit 1; }
    fi
fi
mkdir -p "$ZIG_GLOBAL_CACHE_DIR" 2>/dev/null || true

if [ $check_only = 1 ]; then
    if [ ${#missing[@]} -gt 0 ]; then
        note "missing: ${missing[*]}"
        exit 1
    fi
    note "all present"
    exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
    note "all present (nightly $(rustup run "$IKE_NIGHTLY" rustc -V | cut -d' ' -f2-), zig $IKE_ZIGLANG_VERSION, cargo-zigbuild $IKE_CARGO_ZIGBUILD_VERSION)"
else
    note "installed: ${missing[*]}"
fi

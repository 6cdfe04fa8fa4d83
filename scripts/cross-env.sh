# shellcheck shell=bash
# Shared settings for scripts/setup-cross.sh, scripts/xbuild.sh and scripts/test-bigendian.sh.
# Sourced, not executed. Every value can be overridden from the environment.

# Pinned tool versions (PyPI wheels; no C compiler needed).
: "${IKE_ZIGLANG_VERSION:=0.17.1}"
: "${IKE_CARGO_ZIGBUILD_VERSION:=0.24.1}"

# Nightly toolchain used for -Zbuild-std (needs the rust-src component). A dated
# nightly such as "nightly-2026-05-19" pins it harder, if the rustup mirror has it.
: "${IKE_NIGHTLY:=nightly}"

# The venv with zig and cargo-zigbuild lives outside the work tree, so fresh clones
# (CI) on the same machine reuse it.
: "${IKE_XTOOLS:=/opt/ike-esp-alg-xtools}"

# zig's cache (musl, compiler-rt, libunwind per target: ~100 s the first time per target).
# Kept beside the venv so it survives fresh clones; cache it in CI if the machine is new.
: "${ZIG_GLOBAL_CACHE_DIR:=$IKE_XTOOLS/zig-cache}"
export ZIG_GLOBAL_CACHE_DIR

export PATH="$IKE_XTOOLS/bin:$PATH"

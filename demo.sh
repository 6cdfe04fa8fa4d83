#!/usr/bin/env bash
# The lab demo with the ALG at work, on a fresh Debian 12 machine (as root):
# builds the daemon as a static binary, boots the QEMU router image (built and cached on
# first use), brings up two plain-ESP IKEv1 clients (libreswan) and a NAT-T client
# (strongSwan) behind one NAT address, runs the daemon in the router, pings through every
# tunnel and prints the daemon's view of it all.
#
#   ./demo.sh                  the demo with the daemon
#   ./demo.sh --without-alg    the same router without it: the second plain-ESP client fails
#   ./demo.sh --shell          stay in a shell in the guest afterwards
set -euo pipefail
cd "$(dirname "$0")"
with_alg=1
args=()
for a in "$@"; do
    case "$a" in
    --without-alg) with_alg=0 ;;
    *) args+=("$a") ;;
    esac
done
# Host packages for the lab (qemu, mmdebstrap, ...): the lab's own installer, idempotent.
if [ "${NO_DEPS:-0}" != 1 ]; then
    apt-get update -qq
    apt-get install -y -qq qemu-system-x86 mmdebstrap cpio zstd kmod binutils file ca-certificates debian-archive-keyring >/dev/null
fi
if [ "$with_alg" = 1 ]; then
    rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        cargo build --locked --release --target x86_64-unknown-linux-musl
    export ALG_BIN=$PWD/target/x86_64-unknown-linux-musl/release/ike-esp-alg
fi
exec lab/demo.sh "${args[@]}"

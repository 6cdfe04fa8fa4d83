#!/usr/bin/env bash
# Builds the tc ESP fast path (bpf/esp_fastpath.c) into one BPF object per byte order:
#   OUTDIR/esp_fastpath.bpfel.o  (little-endian routers: x86, arm, aarch64, mipsel)
#   OUTDIR/esp_fastpath.bpfeb.o  (big-endian routers: mips, e.g. ath79)
# The daemon reads the object from a file at run time; cargo builds never need clang.
# Needs clang (Debian: apt-get install clang) and the UAPI headers (linux-libc-dev).
# Usage: bpf/build.sh OUTDIR
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
clang=${CLANG:-clang}

if ! command -v "$clang" >/dev/null 2>&1; then
    echo "error: $clang not found: the BPF objects need clang (Debian: apt-get install clang)" >&2
    exit 1
fi

# <linux/bpf.h> includes <asm/types.h>, which Debian keeps in the host's multiarch
# directory; a BPF target does not search it on its own.
multiarch_include=()
multiarch=$(cc -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch" ]; then
    multiarch_include=(-idirafter "/usr/include/$multiarch")
else
    for dir in /usr/include/*-linux-gnu*; do
        if [ -f "$dir/asm/types.h" ]; then
            multiarch_include=(-idirafter "$dir")
            break
        fi
    done
fi

mkdir -p "$out_dir"
for target in bpfel bpfeb; do
    "$clang" -O2 -g0 -target "$target" -Wall -Werror "${multiarch_include[@]}" \
        -c "$src_dir/esp_fastpath.c" -o "$out_dir/esp_fastpath.$target.o"
    echo "built $out_dir/esp_fastpath.$target.o"
done

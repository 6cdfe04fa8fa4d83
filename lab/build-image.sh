#!/bin/bash
# Build the lab's guest image for one architecture: a Debian bookworm kernel and a slim
# initramfs with the IKE peers (strongSwan, libreswan), netfilter tools and the lab's
# guest scripts.
#
#   lab/build-image.sh <amd64|arm64|mipsel>
#
# Output (lab/out/<arch>/):
#   kernel          the kernel QEMU boots
#   base.cpio.zst   the root filesystem (programs, libraries, modules); slow to build
#   guest.cpio      /init and /opt/lab (the scenario scripts); fast to build
#   initrd          guest.cpio followed by base.cpio.zst (see "Why prepended" in README.md)
#   stamp           content hash of this script and lab/guest/; equal hash = nothing to do
#
# Nothing runs inside the target root: mmdebstrap's extract variant unpacks packages
# without maintainer scripts, and libraries are found with readelf, so foreign
# architectures need neither qemu-user nor binfmt.
#
# Environment: MIRROR, SECURITY_MIRROR (Debian archive URLs), FORCE=1 (rebuild everything),
# LAB_OUT (output root, default lab/out).
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
ARCH=${1:-}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm

case "$ARCH" in
amd64)  KPKG=linux-image-amd64;     TRIPLET=x86_64-linux-gnu ;;
arm64)  KPKG=linux-image-arm64;     TRIPLET=aarch64-linux-gnu ;;
mipsel) KPKG=linux-image-4kc-malta; TRIPLET=mipsel-linux-gnu ;;
*) echo "usage: $0 <amd64|arm64|mipsel>" >&2; exit 2 ;;
esac

OUT=${LAB_OUT:-$LAB/out}/$ARCH
mkdir -p "$OUT"
# One build per architecture at a time; a second caller waits, then finds it up to date.
exec 9>"$OUT/.build.lock"
flock 9

log() { printf '[build-image %s] %s\n' "$ARCH" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in mmdebstrap cpio zstd depmod modprobe readelf sha256sum; do
    command -v "$tool" >/dev/null || die "missing host tool '$tool' (lab/ci.sh installs the host dependencies)"
done

# ---------------------------------------------------------------------------
# Content keys
# ---------------------------------------------------------------------------
hash_files() {  # file... -> one sha256 over names and contents
    local f
    for f in "$@"; do
        printf '%s\n' "${f#"$LAB"/}"
        sha256sum <"$f"
    done | sha256sum | cut -d' ' -f1
}
mapfile -t GUEST_FILES < <(find "$LAB/guest" -type f | LC_ALL=C sort)
BASE_KEY=$(printf '%s %s %s %s\n' "$ARCH" "$MIRROR" "$SECURITY_MIRROR" \
    "$(hash_files "$LAB/build-image.sh")" | sha256sum | cut -d' ' -f1)
GUEST_KEY=$(hash_files "${GUEST_FILES[@]}")
KEY=$(printf '%s %s\n' "$BASE_KEY" "$GUEST_KEY" | sha256sum | cut -d' ' -f1)

if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$KEY" ] \
    && [ -s "$OUT/kernel" ] && [ -s "$OUT/initrd" ]; then
    log "up to date ($KEY), nothing to do"
    exit 0
fi

# ---------------------------------------------------------------------------
# Base image: packages, slim root, modules
# ---------------------------------------------------------------------------

# Modules the scenarios need (missing ones on an architecture are skipped). Everything
# in the image is depmod'ed, so the kernel loads them on demand (request_module).
MODULES="veth dummy bridge tun
 nf_tables nft_objref nft_ct nft_nat nft_masq nft_chain_nat nft_queue nft_reject
 nft_reject_inet nft_reject_ipv4 nft_compat nft_log nft_limit nft_fib_inet nft_fib_ipv4
 nft_quota nft_numgen nft_hash nft_redir nft_tproxy nft_socket nft_connlimit
 nf_conntrack nf_conntrack_netlink nf_nat nfnetlink_queue nfnetlink_log nf_log_syslog
 x_tables xt_NFQUEUE xt_MASQUERADE xt_conntrack xt_policy xt_esp xt_mark xt_nat
 xt_comment xt_multiport xt_CT iptable_filter iptable_nat iptable_mangle iptable_raw
 xfrm_user xfrm_algo esp4 esp6 ah4 xfrm4_tunnel xfrm6_tunnel af_key xfrm_interface
 authenc authencesn echainiv seqiv gcm ccm ghash_generic ctr cbc hmac
 sha1_generic sha256_generic sha512_generic drbg jitterentropy_rng aes_generic
 aesni_intel aes_ce_blk aes_neon_blk sha2_ce sha1_ce ghash_ce chacha20poly1305
 cmac xcbc md5 des_generic
 sch_ingress cls_bpf"

# strongSwan plugins the lab loads (see guest/peers.sh).
SSW_PLUGINS="random nonce aes sha1 sha2 hmac gmp kdf x509 pubkey pkcs1 pem
 kernel-netlink socket-default vici"

# extract WORK SOURCE...: strongSwan and libreswan conflict as packages, so two extracts.
extract() {
    local work=$1
    shift
    log "mmdebstrap: system + strongSwan + kernel, and libreswan (in parallel)"
    mmdebstrap --variant=extract --architectures="$ARCH" \
        --include="busybox-static,dash,iproute2,nftables,conntrack,iptables,iputils-ping,netcat-openbsd,tcpdump,kmod,strongswan-charon,strongswan-swanctl,libcharon-extra-plugins,libnss3-tools,$KPKG" \
        "$SUITE" "$work/main" "$@" >"$work/mmdebstrap-main.log" 2>&1 &
    local p1=$!
    mmdebstrap --variant=extract --architectures="$ARCH" --include=libreswan \
        "$SUITE" "$work/lsw" "$@" >"$work/mmdebstrap-lsw.log" 2>&1 &
    local p2=$!
    wait "$p1" || { cat "$work/mmdebstrap-main.log" >&2; die "mmdebstrap (main) failed"; }
    wait "$p2" || { cat "$work/mmdebstrap-lsw.log" >&2; die "mmdebstrap (libreswan) failed"; }
}

build_base() {
    local work="$OUT/work"
    local sources=("deb $MIRROR $SUITE main" "deb $SECURITY_MIRROR $SUITE-security main")
    local t0=$SECONDS
    if [ "${KEEP_WORK:-0}" = 1 ] && [ -f "$work/extracted" ]; then
        log "KEEP_WORK=1: reusing the extracts in $work"
        rm -rf "$work/root"
    else
        rm -rf "$work"
        mkdir -p "$work"
        extract "$work" "${sources[@]}"
        touch "$work/extracted"
    fi
    log "extracts ready after $((SECONDS - t0)) s"

    local root="$work/root"
    mkdir -p "$root"
    slim_root "$work/main" "$work/lsw" "$root"
    add_modules "$work/main" "$root"
    fixups "$root"

    log "rootfs: $(du -sh "$root" | cut -f1), $(find "$root" -type f | wc -l) files"
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
        | zstd -q -3 -T0 >"$OUT/base.cpio.zst.tmp"
    mv "$OUT/base.cpio.zst.tmp" "$OUT/base.cpio.zst"
    echo "$BASE_KEY" >"$OUT/base.stamp"
    [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
    log "base image: $(du -h "$OUT/base.cpio.zst" | cut -f1) in $((SECONDS - t0)) s"
}

# --- copying files with their shared-library closure -------------------------
declare -A COPIED=()

# resolve_in ROOT PATH: follow symlinks inside ROOT (absolute links are relative to ROOT)
# and print the final path relative to ROOT.
resolve_in() {
    local root=$1 p=$2 n=0 t
    while [ -L "$root$p" ] && [ $n -lt 20 ]; do
        t=$(readlink "$root$p")
        case "$t" in
        /*) p=$t ;;
        *) p=$(dirname "$p")/$t ;;
        esac
        n=$((n + 1))
    done
    printf '%s\n' "$p"
}

find_lib() {  # ROOT NAME RPATH... -> path in ROOT
    local root=$1 name=$2 d
    shift 2
    for d in "$@" /lib/$TRIPLET /usr/lib/$TRIPLET /lib /usr/lib /usr/lib/$TRIPLET/nss; do
        if [ -e "$root$d/$name" ]; then
            printf '%s\n' "$d/$name"
            return 0
        fi
    done
    return 1
}

# copy_in SRCROOT DSTROOT PATH: copy PATH (relative to both roots), its symlink chain
# and, for ELF files, the interpreter and NEEDED libraries, recursively.
copy_in() {
    local src=$1 dst=$2 p=$3
    local k="$dst|$p"
    [ -n "${COPIED[$k]:-}" ] && return 0
    COPIED[$k]=1
    if [ ! -e "$src$p" ] && [ ! -L "$src$p" ]; then
        die "not in the extract: $p"
    fi
    mkdir -p "$dst$(dirname "$p")"
    if [ -L "$src$p" ]; then
        cp -P "$src$p" "$dst$p"
        local t
        t=$(readlink "$src$p")
        case "$t" in /*) ;; *) t=$(dirname "$p")/$t ;; esac
        copy_in "$src" "$dst" "$t"
        return 0
    fi
    if [ -d "$src$p" ]; then
        mkdir -p "$dst$p"
        return 0
    fi
    cp -p "$src$p" "$dst$p"
    if [ "$(head -c 4 "$src$p" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        local interp rpaths=() lib d o
        interp=$(readelf -l "$src$p" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
        [ -n "$interp" ] && copy_in "$src" "$dst" "$interp"
        o=$(dirname "$p")
        while read -r d; do
            d=${d//\$ORIGIN/$o}
            rpaths+=("$d")
        done < <(readelf -d "$src$p" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p' | tr ':' '\n')
        while read -r lib; do
            local lp
            lp=$(find_lib "$src" "$lib" "${rpaths[@]}") || die "$p needs $lib, not found in the extract"
            copy_in "$src" "$dst" "$lp"
        done < <(readelf -d "$src$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    fi
}

copy_glob() {  # SRC DST required(0/1) PATTERN...: copy every match of the patterns
    local src=$1 dst=$2 required=$3 pat f found
    shift 3
    for pat in "$@"; do
        found=0
        for f in $src$pat; do
            [ -e "$f" ] || [ -L "$f" ] || continue
            copy_in "$src" "$dst" "${f#"$src"}"
            found=1
        done
        if [ $found = 0 ]; then
            [ "$required" = 1 ] && die "nothing matches $pat"
            log "note: no $pat on $ARCH"
        fi
    done
}

slim_root() {
    local main=$1 lsw=$2 root=$3 p
    log "slim root: programs and their library closure"
    copy_glob "$main" "$root" 1 /bin/busybox /bin/dash /bin/ip /bin/kmod /bin/ping /bin/nc.openbsd \
        /usr/sbin/nft /usr/sbin/conntrack /usr/sbin/xtables-nft-multi /usr/bin/tcpdump \
        /usr/lib/ipsec/charon /usr/sbin/swanctl /usr/bin/certutil \
        "/lib/$TRIPLET/libgcc_s.so.1"
    copy_glob "$main" "$root" 0 "/usr/lib/$TRIPLET/xtables/*.so"
    for p in $SSW_PLUGINS; do
        copy_glob "$main" "$root" 1 "/usr/lib/ipsec/plugins/libstrongswan-$p.so"
    done
    # libreswan from its own extract (same suite, so the shared libraries agree).
    copy_glob "$lsw" "$root" 1 /usr/libexec/ipsec/pluto /usr/libexec/ipsec/whack /usr/libexec/ipsec/addconn
    # NSS loads its software token at run time.
    copy_glob "$lsw" "$root" 1 "/usr/lib/$TRIPLET/libsoftokn3.so" "/usr/lib/$TRIPLET/libfreebl3.so" \
        "/usr/lib/$TRIPLET/libfreeblpriv3.so"
    copy_glob "$lsw" "$root" 0 "/usr/lib/$TRIPLET/libsoftokn3.chk" "/usr/lib/$TRIPLET/libfreebl3.chk" \
        "/usr/lib/$TRIPLET/libfreeblpriv3.chk" "/usr/lib/$TRIPLET/libnssdbm3.so" \
        "/usr/lib/$TRIPLET/libnssdbm3.chk"
}

add_modules() {
    local main=$1 root=$2 kv m cmd line n=0
    kv=$(basename "$(find "$main/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
    [ -n "$kv" ] || die "no kernel modules in the extract"
    log "kernel $kv: modules"
    depmod -b "$main" "$kv"
    mkdir -p "$root/lib/modules/$kv" "$root/etc"
    : >"$root/etc/modules.load"
    for m in $MODULES; do
        if ! modprobe -d "$main" -S "$kv" --show-depends "$m" >"$OUT/.deps" 2>/dev/null; then
            continue
        fi
        while read -r cmd line _; do
            case "$cmd" in
            insmod)
                local ko=${line#"$main"}
                if [ ! -e "$root$ko" ]; then
                    mkdir -p "$root$(dirname "$ko")"
                    cp -p "$main$ko" "$root$ko"
                    echo "$ko" >>"$root/etc/modules.load"
                    n=$((n + 1))
                fi
                ;;
            esac
        done <"$OUT/.deps"
    done
    rm -f "$OUT/.deps"
    for f in modules.order modules.builtin modules.builtin.modinfo; do
        [ -e "$main/lib/modules/$kv/$f" ] && cp -p "$main/lib/modules/$kv/$f" "$root/lib/modules/$kv/"
    done
    depmod -b "$root" "$kv"
    log "$n modules"

    # The kernel image QEMU boots.
    local k
    case "$ARCH" in
    mipsel) k=$(find "$main/boot" -name "vmlinux-$kv" | head -n1) ;;
    *) k=$(find "$main/boot" -name "vmlinuz-$kv" | head -n1) ;;
    esac
    [ -n "$k" ] || k=$(find "$main/boot" -name "vmlinu*-$kv" | head -n1)
    [ -n "$k" ] || die "no kernel image in $main/boot"
    if [ "$(head -c 2 "$k" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
        gzip -dc "$k" >"$OUT/kernel.tmp"    # arm64 vmlinuz is a gzipped Image
    else
        cp "$k" "$OUT/kernel.tmp"
    fi
    mv "$OUT/kernel.tmp" "$OUT/kernel"
    echo "$kv" >"$OUT/kernel-version"
}

fixups() {  # what maintainer scripts would have done, and what the guest expects
    local root=$1
    mkdir -p "$root"/{proc,sys,dev,run,tmp,root,etc,bb,sbin,usr/sbin,var,mnt,opt}
    chmod 1777 "$root/tmp"
    ln -sfn /run "$root/var/run"
    ln -sfn dash "$root/bin/sh"
    ln -sfn nc.openbsd "$root/bin/nc"
    local t
    for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
        ln -sfn xtables-nft-multi "$root/usr/sbin/$t"
    done
    for t in modprobe insmod rmmod lsmod depmod modinfo; do
        ln -sfn /bin/kmod "$root/sbin/$t"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n' >"$root/etc/nsswitch.conf"
    : >"$root/etc/resolv.conf"
    printf 'ip 0 IP\nicmp 1 ICMP\ntcp 6 TCP\nudp 17 UDP\nesp 50 IPSEC-ESP\nah 51 IPSEC-AH\nipv6-icmp 58 IPv6-ICMP\n' >"$root/etc/protocols"
    printf 'isakmp 500/udp\nipsec-nat-t 4500/udp\n' >"$root/etc/services"
    echo lab >"$root/etc/hostname"
}

if [ "${FORCE:-0}" = 1 ] || [ ! -f "$OUT/base.stamp" ] || [ "$(cat "$OUT/base.stamp")" != "$BASE_KEY" ] \
    || [ ! -s "$OUT/base.cpio.zst" ] || [ ! -s "$OUT/kernel" ]; then
    build_base
else
    log "base image up to date"
fi

# ---------------------------------------------------------------------------
# Guest layer: /init and /opt/lab, packed on its own and put in front of the base
# ---------------------------------------------------------------------------
stage="$OUT/guest-stage"
rm -rf "$stage"
mkdir -p "$stage/opt/lab"
cp -a "$LAB/guest/." "$stage/opt/lab/"
chmod 0755 "$stage/opt/lab"/*.sh
cp -p "$LAB/guest/init" "$stage/init"
chmod 0755 "$stage/init" "$stage/opt/lab/init"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$OUT/guest.cpio"
rm -rf "$stage"
cat "$OUT/guest.cpio" "$OUT/base.cpio.zst" >"$OUT/initrd.tmp"
mv "$OUT/initrd.tmp" "$OUT/initrd"
echo "$KEY" >"$OUT/stamp"
log "ready: $OUT/kernel ($(du -h "$OUT/kernel" | cut -f1)), $OUT/initrd ($(du -h "$OUT/initrd" | cut -f1))"

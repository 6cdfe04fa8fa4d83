#!/usr/bin/env bash
# Datapath benchmark of ike-esp-alg on this host's kernel, in namespaces of its own
# (issue 5, "Benchmarks"). One command: builds, sets up, measures, tears down, prints a table.
#
#   c (192.168.1.2) --c0/r0-- r (LAN 192.168.1.1, WAN 203.0.113.7) --r1/s0-- s (203.0.113.1)
#
# Method (as ../shared/notes/DATAPATH-ANCHORS.md): examples/espgen.rs sends ESP-shaped IPv4
# protocol-50 frames (AF_PACKET + sendmmsg, PACKET_QDISC_BYPASS) pinned to CPU0; RPS on every
# veth puts all of r's forwarding and the receiver's sink on CPU1; the sink is a netdev ingress
# chain counting and dropping all ESP (translated or not, so that no configuration makes the
# receiver do more work). pps = packets counted at the sink / generator seconds.
# CPU1 busy ~99 % => router-bound; "ns/pkt" = CPU1 busy time / delivered packet; "router
# ns/pkt" = CPU1 softirq time / delivered packet (other tasks on a shared host excluded).
#
# 1. fast path, configurations alternated in every repetition, both directions:
#    A    bare forwarding (empty ruleset)
#    B    stock conntrack + masquerade on the WAN side (as fw4's wan masquerade)
#    ALG  B + the daemon's own table and its iptables-nft NFQUEUE rule, exactly as the
#         release daemon installed them after learning the session (outbound: from one ESP
#         packet through its queue; inbound: from its state file), captured with
#         `nft -s list table` and re-loaded; ALG10k/ALG64k add that many filler keys to
#         every (addresses, SPI) set and map of the table. ALG1-noxt: without the iptables-nft
#         rule (on OpenWrt the nft `queue` expression replaces it).
#    BPF1 ALG1 (B + the table + its rule) + the tc fast path bpf/esp_fastpath.c at clsact
#         ingress of r0 and r1, its map holding the two measured SAs (one each way);
#         BPF64k: the same with 65,536 SAs in the map (the two + 65,534 fillers: full, the
#         map's max_entries and the engine's session limit). examples/bpf_bench_loader.rs
#         loads and pins program and map on a private bpffs ($work/bpffs), iproute2's
#         `tc filter ... bpf direct-action pinned` attaches them; the clsact qdiscs are
#         removed again before ALG10k. Packets the program took are read from its map.
#         Skipped (with a message) when the object cannot be built (needs clang).
#    TC0  ALG1 + bench/tc_pass.c (returns TC_ACT_UNSPEC at once, as the fast path does for
#         what it does not take) where BPF1's program sits,
#         udp windows only: the tc hook's own cost, apart from the program's.
#    BPFX1, TCX0  the same program (one) and the empty one attached through tcx instead
#         (a bpf link at tcx ingress, BPF_LINK_CREATE, Linux 6.6: no qdisc, no classifier;
#         examples/bpf_bench_loader.rs tcx pins the links); BPFX1 out, in and udp, TCX0
#         udp. Skipped (with a message) on a kernel without tcx.
#    udp  windows of plain UDP c->s:53 (traffic the ALG does not handle) with A, B, ALG1,
#         BPF1, TC0, BPFX1 and TCX0 loaded: what the hooks cost other traffic.
#    Once per run, BPF_PROG_TEST_RUN times the program in r's namespace (1-SA and full
#    map): a hit (10^6 runs in batches of 250 repeats), an ESP miss and a UDP frame
#    (10^6 repeats each).
# 2. slow path: the release daemon, pinned to CPU0 with the generator niced on CPU0
#    (the anchors' config E placement), saturated with ESP it must verdict:
#    drop    unknown inbound SPIs from the server (each a Drop verdict, no nft call)
#    create  60,000 new outbound SPIs from 128 clients (each creates a session: netlink
#            elements), timed until the last verdict
#    plus added latency of a queued IKE request/response (bench/ike_rtt.py).
# 3. daemon RSS (VmRSS, VmHWM): idle, 10k sessions learned through the queue, 10k sessions
#    restored from a state file; release (glibc) and static musl builds.
#
# --only bpf: just A, B, ALG1, BPF1, BPF64k and BPFX1 (out, in, udp), TC0 and TCX0 (udp), alternated in each
#    repetition as in 1 (the fast phase includes them already), and the test-run timing.
#
# 4. ruleset variants (only with --only variants): every bench/variants/*.nft loaded on top
#    of stock NAT instead of the daemon's table, out/in/UDP windows beside B each repetition;
#    a file whose name contains "accept_local" gets net.ipv4.conf.{all,r0}.accept_local=1.
#
# Usage: bench/datapath.sh [--reps N] [--seconds S] [--no-build] [--only fast,slow,rss,variants,bpf]
#        (as root; about 8 minutes with the defaults, 5 repetitions of 3 s windows)
# Env:   KEEP=1 keeps the work directory.
# sed with capture groups reads the tools' key=value output; ${var//...} cannot do that.
# shellcheck disable=SC2001
set -uo pipefail
# shellcheck disable=SC2317  # cleanup and the helpers run from traps and loops

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/netns.sh
. "$here/../scripts/netns.sh"
root=$(cd "$here/.." && pwd)
reps=5 window=3 build=1 only=fast,slow,rss
while [ $# -gt 0 ]; do
    case $1 in
        --reps) reps=$2; shift 2 ;;
        --seconds) window=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --only) only=$2; shift 2 ;;
        *) echo "usage: $0 [--reps N] [--seconds S] [--no-build] [--only fast,slow,rss,variants,bpf]" >&2; exit 2 ;;
    esac
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/bench-dev}
bin=$CARGO_TARGET_DIR/release/ike-esp-alg
musl=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/ike-esp-alg
gen=$CARGO_TARGET_DIR/release/examples/espgen
loader=$CARGO_TARGET_DIR/release/examples/bpf_bench_loader
bpf_obj=$CARGO_TARGET_DIR/bpf/esp_fastpath.bpf$([ "$(python3 -c 'import sys; print(sys.byteorder)')" = big ] && echo eb || echo el).o

if [ "$(id -u)" != 0 ] || ! command -v nft >/dev/null || ! command -v iptables-nft >/dev/null; then
    echo "needs root, nft and iptables-nft" >&2; exit 2
fi
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --quiet --release && cargo build --quiet --release --example espgen) || exit 1
    case ",$only," in *,fast,* | *,bpf,*)
        (cd "$root" && cargo build --quiet --release --example bpf_bench_loader && bpf/build.sh "$CARGO_TARGET_DIR/bpf" >/dev/null) ||
            echo "BPF fast path not built (bpf/build.sh needs clang); BPF rows skipped" >&2 ;;
    esac
    # The static musl daemon is for the RSS rows only.
    case ",$only," in *,rss,*)
        (cd "$root" && CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
            cargo build --quiet --release --target x86_64-unknown-linux-musl) || echo "musl build failed; musl rows skipped" >&2 ;;
    esac
fi
if [ ! -x "$bin" ] || [ ! -x "$gen" ]; then echo "missing $bin or $gen (run without --no-build)" >&2; exit 1; fi
bpf=0
if [ -x "$loader" ] && [ -f "$bpf_obj" ] && command -v tc >/dev/null; then bpf=1
else
    case ",$only," in *,bpf,*) echo "--only bpf needs $loader, $bpf_obj and tc (run without --no-build)" >&2; exit 1 ;; esac
fi

tag=ieab$$
C=${tag}c R=${tag}r S=${tag}s
work=$(mktemp -d /tmp/ike-esp-alg-bench.XXXXXX)
results=$work/results
daemon_pid=
bpffs=
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

stop_daemon() {
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
    fi
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    stop_daemon
    netns_cleanup
    if [ -n "$bpffs" ]; then
        rm -f "$bpffs"/one_prog "$bpffs"/one_map "$bpffs"/full_prog "$bpffs"/full_map
        umount "$bpffs"
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inr() { ip netns exec "$R" "$@"; }
log() { echo "[$(date +%T)] $*" >&2; }

# ---------------------------------------------------------------- topology
netns_add "$C" "$R" "$S" || exit 1
netns_veth "$C" c0 "$R" r0; netns_veth "$R" r1 "$S" s0
netns_addr "$C" c0 192.168.1.2/24
netns_addr "$R" r0 192.168.1.1/24; netns_addr "$R" r1 203.0.113.7/24
netns_addr "$S" s0 203.0.113.1/24
MAC_C0=$(netns_mac "$C" c0) MAC_R0=$(netns_mac "$R" r0) MAC_R1=$(netns_mac "$R" r1) MAC_S0=$(netns_mac "$S" s0)
ip -n "$C" route add default via 192.168.1.1
ip -n "$S" route add 192.168.0.0/16 via 203.0.113.7
ip -n "$R" route add 192.168.0.0/16 via 192.168.1.2
ip -n "$R" neigh replace 192.168.1.2 lladdr "$MAC_C0" dev r0 nud permanent
ip -n "$R" neigh replace 203.0.113.1 lladdr "$MAC_S0" dev r1 nud permanent
ip -n "$C" neigh replace 192.168.1.1 lladdr "$MAC_R0" dev c0 nud permanent
ip -n "$S" neigh replace 203.0.113.7 lladdr "$MAC_R1" dev s0 nud permanent
netns_router "$R"
inr sysctl -qw net.ipv4.conf.r0.rp_filter=0 net.ipv4.conf.r1.rp_filter=0
# RPS: every receive on these veths is processed on CPU1 (mask 2).
for l in "$C c0" "$R r0" "$R r1" "$S s0"; do
    # shellcheck disable=SC2086 # split on purpose
    set -- $l; ip netns exec "$1" sh -c "echo 2 > /sys/class/net/$2/queues/rx-0/rps_cpus"
done
# Sinks: count and drop ESP at ingress. esp_nat/esp_client tell whether the NAT happened.
ip netns exec "$S" nft -f - <<'NFT'
table netdev sink {
  counter esp_all {}
  counter esp_nat {}
  counter udp_all {}
  counter udp_nat {}
  chain in { type filter hook ingress device "s0" priority 0; policy accept;
    meta l4proto esp counter name esp_all ip saddr 203.0.113.7 counter name esp_nat;
    meta l4proto esp drop;
    udp dport 53 counter name udp_all ip saddr 203.0.113.7 counter name udp_nat;
    udp dport 53 drop; }
}
NFT
ip netns exec "$C" nft -f - <<'NFT'
table netdev sink {
  counter esp_all {}
  counter esp_client {}
  chain in { type filter hook ingress device "c0" priority 0; policy accept;
    meta l4proto esp counter name esp_all ip daddr 192.168.1.2 counter name esp_client;
    meta l4proto esp drop; }
}
NFT
sink() { ip netns exec "$1" nft list counter netdev sink "$2" | awk '/packets/ {print $2}'; }

cat > "$work/config" <<'EOF'
config alg 'ike_esp_nat'
	option enabled '1'
config nat 'source'
	option address_persistent '1'
config rule_set 'rs1'
	option from_zone 'lan'
	option to_zone 'wan'
config rule 'r1'
	option rule_set 'rs1'
	list source_address '192.168.0.0/16'
	option source_nat 'interface'
EOF
stock_nat() { inr nft -f - <<'NFT'
table ip nat {
  chain post { type nat hook postrouting priority srcnat; policy accept; oifname "r1" masquerade; }
}
NFT
}

# ---------------------------------------------------------------- daemon helpers
show() { inr "$dbin" show "$@" --control "$work/sock"; }
counters_json() { show counters --json 2>/dev/null; }
json_num() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
start_daemon() { # binary [state file]; router ruleset: stock NAT, then the daemon's
    dbin=$1
    stop_daemon
    inr nft flush ruleset
    stock_nat
    rm -f "$work/sock"
    if [ -n "${2:-}" ]; then cp "$2" "$work/state"; else rm -f "$work/state"; fi
    ip netns exec "$R" taskset -c 0 "$dbin" daemon --config "$work/config" --state "$work/state" \
        --control "$work/sock" --egress-device r1 --queue-backend xtables >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 300); do counters_json | grep -q verdict_drop && return 0; sleep 0.1; done
    echo "daemon did not start:" >&2; tail -5 "$work/daemon.log" >&2; exit 1
}
# utime+stime+cutime+cstime of the daemon (children: its nft processes), and the children's
# part alone, in clock ticks.
daemon_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$daemon_pid/stat"; }
child_ticks() { awk '{print $16+$17}' "/proc/$daemon_pid/stat"; }
rss() { awk '/^VmRSS|^VmHWM|^RssAnon|^RssFile/ {printf "%s=%s ", $1, $2}' "/proc/$daemon_pid/status" | tr -d ':'; }
tck=$(getconf CLK_TCK)
# Per CPU0, CPU1: busy ticks, total ticks, softirq ticks. Busy counts everything (other work
# on a shared host too); softirq is where the router's forwarding runs.
# CPU1's softirq ticks are the router's work (a tick in ksoftirqd/1 serving softirqs counts
# as softirq too); ksoftirqd/1's own time is recorded for reference only.
ksoftirqd1=$(pgrep -x ksoftirqd/1 | head -1)
cpustat() {
    awk '/^cpu[01] / {b=$2+$3+$4+$7+$8+$9; t=b+$5+$6; printf "%s %s %s ", b, t, $8}' /proc/stat
    awk '{printf "%s ", $14+$15}' "/proc/${ksoftirqd1:-self}/stat"
}

gen_out() { ip netns exec "$C" taskset -c 0 "$gen" --dev c0 --dst-mac "$MAC_R0" "$@"; }
gen_in() { ip netns exec "$S" taskset -c 0 "$gen" --dev s0 --dst-mac "$MAC_R1" "$@"; }

# One fast-path window: direction, config name, rep. Appends a record to $results.
fast_window() {
    local dir=$1 cfg=$2 rep=$3 ns ctr okctr out c0 c1
    case $dir in
        out) ns=$S ctr=esp_all okctr=esp_nat ;;
        udp) ns=$S ctr=udp_all okctr=udp_nat ;;
        *) ns=$C ctr=esp_all okctr=esp_client ;;
    esac
    local b0 b_ok; b0=$(sink "$ns" $ctr); b_ok=$(sink "$ns" $okctr)
    c0=$(cpustat)
    if [ "$dir" = out ]; then
        out=$(gen_out --src 192.168.1.2 --dst 203.0.113.1 --spi 0x1000 --len 100 --seconds "$window")
    elif [ "$dir" = udp ]; then
        out=$(gen_out --src 192.168.1.2 --dst 203.0.113.1 --udp 53 --len 100 --seconds "$window")
    else
        local dst=203.0.113.7; [ "$cfg" = A ] && dst=192.168.1.2
        out=$(gen_in --src 203.0.113.1 --dst $dst --spi 0x2000 --len 100 --seconds "$window")
    fi
    c1=$(cpustat)
    sleep 0.2
    local a0 a_ok; a0=$(sink "$ns" $ctr); a_ok=$(sink "$ns" $okctr)
    local sent secs; sent=$(echo "$out" | sed 's/.*sent=\([0-9]*\).*/\1/'); secs=$(echo "$out" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
    echo "fast $dir $cfg $rep $sent $secs $((a0 - b0)) $((a_ok - b_ok)) $c0 $c1" >> "$results"
    log "fast $dir $cfg rep $rep: sent $sent delivered $((a0 - b0)) translated $((a_ok - b_ok)) in ${secs}s"
}

# ---------------------------------------------------------------- learn once with the daemon
log "work dir $work; load average $load_before"
: > "$results"
cat > "$work/learn.state" <<'EOF'
ike-esp-alg-state 1
binding 192.168.1.2 203.0.113.7 -
session in 203.0.113.1 203.0.113.7 00002000 192.168.1.2 0 0 0
EOF
start_daemon "$bin" "$work/learn.state"
gen_out --src 192.168.1.2 --dst 203.0.113.1 --spi 0x1000 --count 1 >/dev/null
sleep 0.5
inr nft -s list table ip ike_esp_alg > "$work/alg.nft"
inr iptables-nft -t raw -S PREROUTING | grep NFQUEUE > "$work/alg.xt"
learned=$(show sessions 2>/dev/null | grep -c 0x00001000)
first_fwd=$(sink "$S" esp_nat)
stop_daemon
if ! grep -q "203.0.113.1 . 4096" "$work/alg.nft" || ! grep -q "203.0.113.7 . 8192" "$work/alg.nft" || [ ! -s "$work/alg.xt" ]; then
    echo "the daemon did not install the learned sessions:" >&2; cat "$work/alg.nft" "$work/daemon.log" >&2; exit 1
fi
log "daemon learned the outbound SPI through its queue (listed: $learned, first packet forwarded translated: $first_fwd)"
python3 "$here/fillers.py" "$work/alg.nft" 0 10000 > "$work/fill10k.nft"
python3 "$here/fillers.py" "$work/alg.nft" 10000 65436 > "$work/fill64k.nft"
split -l 25 "$work/fill64k.nft" "$work/fill64k.part."
fill_load() { local f; for f in "$@"; do inr nft -f "$f" || echo "filler load failed: $f" >&2; done; }

alg_load() { # the daemon's table, as captured, on top of stock NAT
    inr nft flush ruleset; stock_nat
    inr nft -f "$work/alg.nft"
    # shellcheck disable=SC2086 # each line is one rule's arguments
    while read -r line; do inr iptables-nft -t raw $line; done < "$work/alg.xt"
}

phase() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- the tc fast path
# Program and map pinned once on a private bpffs (visible inside `ip netns exec`, which
# mounts a /sys of its own): one = the two measured SAs, full = 65,536 SAs.
if [ "$bpf" = 1 ] && { phase fast || phase bpf; }; then
    bpffs=$work/bpffs
    mkdir -p "$bpffs"
    mount -t bpf bpf "$bpffs" || { bpffs=; echo "cannot mount a bpffs at $work/bpffs" >&2; exit 1; }
    for p in "one 2" "full 65536"; do
        # shellcheck disable=SC2086 # name and SA count
        set -- $p
        out=$(inr "$loader" pin "$bpf_obj" "$bpffs" "$1" --sas "$2") || { echo "bpf_bench_loader pin $1 failed" >&2; exit 1; }
        echo "bpf_pin $1 $(echo "$out" | tr '\n' ' ')" >> "$results"
        log "bpf fast path pinned ($1): $(echo "$out" | tr '\n' ' ')"
        out=$(inr "$loader" test-run "$bpf_obj" --ingress r0 --sas "$2" --repeat 1000000) || { echo "bpf_bench_loader test-run failed" >&2; exit 1; }
        echo "bpf_test_run $1 $(echo "$out" | tr '\n' ' ')" >> "$results"
        log "BPF_PROG_TEST_RUN ($1): $(echo "$out" | tr '\n' ' ')"
    done
fi
bpf_attach() { # one|full: the pinned program at ingress of both router veths
    local dev
    for dev in r0 r1; do
        inr tc qdisc replace dev $dev clsact
        inr tc filter replace dev $dev ingress pref 1 handle 1 bpf direct-action pinned "$bpffs/$1_prog" ||
            { echo "tc could not attach $bpffs/$1_prog to $dev" >&2; exit 1; }
    done
}
bpf_detach() { local dev; for dev in r0 r1; do inr tc qdisc del dev $dev clsact; done; }
# TC0: bench/tc_pass.c (returns TC_ACT_UNSPEC at once, as the fast path does for what it
# does not take) in the fast path's place, for UDP only:
# the hook's own cost to traffic the program does not take.
pass_obj=$work/tc_pass.o
if [ "$bpf" = 1 ] && ! clang -O2 -g0 -target bpf -c "$here/tc_pass.c" -o "$pass_obj"; then
    echo "clang could not build bench/tc_pass.c; TC0 rows skipped" >&2; pass_obj=
fi
pass_attach() {
    local dev
    for dev in r0 r1; do
        inr tc qdisc replace dev $dev clsact
        inr tc filter replace dev $dev ingress pref 1 handle 1 bpf direct-action obj "$pass_obj" sec tc ||
            { echo "tc could not attach $pass_obj to $dev" >&2; exit 1; }
    done
}
# BPFX1 and TCX0: the pinned programs at tcx ingress of both router veths, each link pinned
# on the bpffs; removing the pins detaches them.
tcx_attach() { # one|pass
    inr "$loader" tcx "$bpffs/$1_prog" "$bpffs" r0 r1 >/dev/null
}
tcx_detach() { rm -f "$bpffs/tcx_r0" "$bpffs/tcx_r1"; }
tcx=0
if [ "$bpf" = 1 ] && [ -n "${bpffs:-}" ] && inr "$loader" pass "$bpffs" pass >/dev/null; then
    if tcx_attach pass; then tcx=1; else echo "this kernel has no tcx (Linux 6.6); BPFX1 and TCX0 rows skipped" >&2; fi
    tcx_detach
fi
# BPF1 and BPF64k windows on top of whatever is loaded (ALG1), then the program's counters
# (cumulative over the run) of the measured SAs in each map.
bpf_windows() { # rep
    bpf_attach one
    fast_window out BPF1 "$1"; fast_window in BPF1 "$1"; fast_window udp BPF1 "$1"
    bpf_attach full
    fast_window out BPF64k "$1"; fast_window in BPF64k "$1"
    if [ -n "$pass_obj" ]; then pass_attach; fast_window udp TC0 "$1"; fi
    bpf_detach
    if [ "$tcx" = 1 ]; then
        tcx_attach one || { echo "tcx attach of the fast path failed" >&2; exit 1; }
        fast_window out BPFX1 "$1"; fast_window in BPFX1 "$1"; fast_window udp BPFX1 "$1"
        tcx_detach
        tcx_attach pass || { echo "tcx attach of the pass program failed" >&2; exit 1; }
        fast_window udp TCX0 "$1"
        tcx_detach
    fi
    local m; for m in one full; do
        echo "bpf_counters $m $1 $(inr "$loader" counters "$bpffs/${m}_map" | tr '\n' ' ')" >> "$results"
    done
}
# ---------------------------------------------------------------- 1. fast path
phase fast && for rep in $(seq "$reps"); do
    inr nft flush ruleset
    fast_window out A "$rep"; fast_window in A "$rep"; fast_window udp A "$rep"
    stock_nat
    fast_window out B "$rep"; fast_window in B "$rep"; fast_window udp B "$rep"
    alg_load
    inr iptables-nft -t raw -F PREROUTING
    fast_window out ALG1-noxt "$rep"; fast_window in ALG1-noxt "$rep"
    # shellcheck disable=SC2086 # each line is one rule's arguments
    while read -r line; do inr iptables-nft -t raw $line; done < "$work/alg.xt"
    fast_window out ALG1 "$rep"; fast_window in ALG1 "$rep"; fast_window udp ALG1 "$rep"
    [ "$bpf" = 1 ] && bpf_windows "$rep"
    fill_load "$work/fill10k.nft"
    fast_window out ALG10k "$rep"
    fill_load "$work"/fill64k.part.*
    fast_window out ALG64k "$rep"; fast_window in ALG64k "$rep"
    # Listing maps of 64k elements takes seconds: count them once.
    [ "$rep" = "$reps" ] && echo "elements_after_fast $rep $(for m in "map esp_out" "map esp_in" "set esp_out_keys"; do inr nft list "${m% *}" ip ike_esp_alg "${m#* }" 2>/dev/null | grep -o ' \. ' | wc -l | awk '{printf "%d,", $1/2}'; done)" >> "$results"
    echo "queued_after_fast $rep $(for q in queued_esp_out queued_esp_in; do inr nft list counter ip ike_esp_alg $q | awk '/packets/ {printf "%s,", $2}'; done)" >> "$results"
done
inr nft flush ruleset

# ---------------------------------------------------------------- 1a. the tc fast path alone
# (the fast phase has these windows already)
phase bpf && ! phase fast && for rep in $(seq "$reps"); do
    inr nft flush ruleset
    fast_window out A "$rep"; fast_window in A "$rep"; fast_window udp A "$rep"
    stock_nat
    fast_window out B "$rep"; fast_window in B "$rep"; fast_window udp B "$rep"
    alg_load
    fast_window out ALG1 "$rep"; fast_window in ALG1 "$rep"; fast_window udp ALG1 "$rep"
    bpf_windows "$rep"
    echo "queued_after_fast $rep $(for q in queued_esp_out queued_esp_in; do inr nft list counter ip ike_esp_alg $q | awk '/packets/ {printf "%s,", $2}'; done)" >> "$results"
done
inr nft flush ruleset

# ---------------------------------------------------------------- 1b. ruleset variants
phase variants && for rep in $(seq "$reps"); do
    inr nft flush ruleset; stock_nat
    fast_window out B "$rep"; fast_window in B "$rep"; fast_window udp B "$rep"
    for f in "$here"/variants/*.nft; do
        v=$(basename "$f" .nft)
        case $v in
            *accept_local*) inr sysctl -qw net.ipv4.conf.all.accept_local=1 net.ipv4.conf.r0.accept_local=1 ;;
            *) inr sysctl -qw net.ipv4.conf.all.accept_local=0 net.ipv4.conf.r0.accept_local=0 ;;
        esac
        inr nft flush ruleset; stock_nat; inr nft -f "$f"
        fast_window out "$v" "$rep"; fast_window in "$v" "$rep"; fast_window udp "$v" "$rep"
    done
    inr sysctl -qw net.ipv4.conf.all.accept_local=0 net.ipv4.conf.r0.accept_local=0
done
inr nft flush ruleset

# ---------------------------------------------------------------- 2. slow path
slow_window() { # kind rep
    local kind=$1 rep=$2 before after t0 t1 k0 k1 out
    before=$(counters_json); t0=$(daemon_ticks); k0=$(child_ticks)
    if [ "$kind" = drop ]; then
        out=$(ip netns exec "$S" nice -n 19 taskset -c 0 "$gen" --dev s0 --dst-mac "$MAC_R1" \
            --src 203.0.113.1 --dst 203.0.113.7 --spi 0x0bad0000 --spi-count 0x10000000 --len 100 --seconds "$window")
    else
        # 60,000 new SAs from 128 clients: each packet creates a session, and all of them fit
        # the session limits (512 per client), so every verdict is a creation. Timed from the
        # first packet until the daemon has given the last one its verdict.
        local w0 w1 v0 n
        w0=$(date +%s.%N); v0=$(echo "$before" | json_num verdict_accept)
        out=$(ip netns exec "$C" nice -n 19 taskset -c 0 "$gen" --dev c0 --dst-mac "$MAC_R0" \
            --src 192.168.16.1 --src-count 128 --dst 203.0.113.1 --spi 0x10000000 --spi-count 0x10000000 --len 100 --count 60000)
        for _ in $(seq 200); do
            n=$(( $(counters_json | json_num verdict_accept) - v0 ))
            [ "$n" -ge 60000 ] && break
            sleep 0.02
        done
        w1=$(date +%s.%N)
        out="$out wall=$(awk "BEGIN {print $w1 - $w0}")"
    fi
    sleep 0.5
    after=$(counters_json); t1=$(daemon_ticks); k1=$(child_ticks)
    local secs; secs=$(echo "$out" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
    case $out in *wall=*) secs=$(echo "$out" | sed 's/.*wall=\([0-9.]*\).*/\1/') ;; esac
    delta() { echo $(( $(echo "$after" | json_num "$1") - $(echo "$before" | json_num "$1") )); }
    local sent verdicts lost overruns sessions nftfail
    sent=$(echo "$out" | sed 's/.*sent=\([0-9]*\).*/\1/')
    verdicts=$(( $(delta verdict_accept) + $(delta verdict_drop) ))
    lost=$(delta queue_lost); overruns=$(delta queue_overruns)
    sessions=$(delta sessions_created_without_gate); nftfail=$(delta nft_failures)
    echo "slow $kind $rep $sent $secs $verdicts $lost $overruns $sessions $((t1 - t0)) $tck $nftfail $((k1 - k0))" >> "$results"
    log "slow $kind rep $rep: sent $sent, verdicts $verdicts, fail-open/lost $lost, overruns $overruns, sessions +$sessions, daemon cpu $((t1 - t0)) ticks"
}
ike_window() { # mode rep
    inr conntrack -F >/dev/null 2>&1
    ip netns exec "$S" taskset -c 1 python3 "$here/ike_rtt.py" server 203.0.113.1 500 & local spid=$!
    sleep 0.3
    local q0 q1; q0=$(inr nft list counter ip ike_esp_alg queued_ike 2>/dev/null | awk '/packets/ {print $2}')
    local r; r=$(ip netns exec "$C" taskset -c 1 python3 "$here/ike_rtt.py" client 192.168.1.2 203.0.113.1 500 1000 0.002)
    q1=$(inr nft list counter ip ike_esp_alg queued_ike 2>/dev/null | awk '/packets/ {print $2}')
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    r="$r queued=$(( ${q1:-0} - ${q0:-0} ))"
    echo "ike $1 $2 $r" >> "$results"
    log "ike $1 rep $2: $r"
}
phase slow && for rep in $(seq "$reps"); do
    start_daemon "$bin"
    slow_window drop "$rep"
    ike_window alg "$rep"
    start_daemon "$bin"
    slow_window create "$rep"
    stop_daemon
    inr nft flush ruleset; stock_nat
    ike_window stock "$rep"
done

# ---------------------------------------------------------------- 3. RSS
python3 - "$work/state10k" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("ike-esp-alg-state 1\n")
    clients = [f"192.168.20.{i}" for i in range(1, 21)]
    for c in clients:
        f.write(f"binding {c} 203.0.113.7 -\n")
    for i in range(10000):
        f.write(f"session out {clients[i % 20]} 203.0.113.1 {0x30000000 + i:08x} 203.0.113.7 0 0 0\n")
EOF
rss_run() { # label binary [state]
    start_daemon "$2" "${3:-}"
    sleep 1
    local n; n=$(show sessions 2>/dev/null | grep -c 0x)
    echo "rss $1 $(rss)sessions=$n" >> "$results"
    log "rss $1: $(rss) sessions listed $n"
}
# kill -9, then a new daemon over the table the kernel kept: milliseconds until it answers
# with every session taken back (state file and kernel merged), polled every 20 ms.
restart_run() { # label binary
    kill -KILL "$daemon_pid"; wait "$daemon_pid" 2>/dev/null
    rm -f "$work/sock"
    local t0=${EPOCHREALTIME/[.,]/} n=0 ms
    ip netns exec "$R" taskset -c 0 "$2" daemon --config "$work/config" --state "$work/state" \
        --control "$work/sock" --egress-device r1 --queue-backend xtables >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 500); do
        n=$(counters_json | grep -o '"tables":{"sessions":[0-9]*' | grep -o '[0-9]*$')
        [ "${n:-0}" -ge 10000 ] && break
        sleep 0.02
    done
    ms=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
    echo "restart $1 ms=$ms sessions=${n:-0}" >> "$results"
    log "restart $1 after kill -9: $ms ms until it answered with ${n:-0} sessions"
}
phase rss && for b in release musl; do
    binary=$bin; [ $b = musl ] && binary=$musl
    [ -x "$binary" ] || continue
    rss_run "$b-idle" "$binary"
    rss_run "$b-10k-state" "$binary" "$work/state10k"
    restart_run "$b-10k" "$binary"
    # 10k sessions learned through the queue: 10k new (client, SPI) keys from 32 clients,
    # paced below the daemon's rate so that none passes fail-open.
    start_daemon "$binary"
    gen_out --src 192.168.16.1 --src-count 32 --dst 203.0.113.1 --spi 0x20000000 --spi-count 10000 \
        --count 10000 --pps 4000 --len 100 >/dev/null
    sleep 1
    n=$(counters_json | json_num sessions_created_without_gate)
    echo "rss $b-10k-queue $(rss)sessions=$n" >> "$results"
    log "rss $b-10k-queue: $(rss) sessions created $n"
    stop_daemon
done
inr nft flush ruleset

# Debugging: HOLD=FILE keeps the namespaces until FILE exists.
[ -n "${HOLD:-}" ] && { echo "holding: netns $C $R $S, work $work, until $HOLD exists" >&2; while [ ! -e "$HOLD" ]; do sleep 1; done; }
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$here/report.py" "$results" "$started" "$load_before" "$load_after" "$reps" "$window" "$(nproc)" "$(uname -r)"
[ "${KEEP:-0}" = 1 ] && cp "$results" "$work/results.txt"
exit 0

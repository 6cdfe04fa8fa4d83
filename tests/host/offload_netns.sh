#!/usr/bin/env bash
# The eBPF fast path (`option esp_offload 1`) end to end on this host's kernel, in
# namespaces of its own: one client behind a NAT router (br-lan, wan) running the daemon
# with the tc program, one server. Crafted IKE and ESP, as in daemon_netns.sh. Checks that:
#   - a learned SA is promoted once its packets passed the forward filters: the program
#     goes onto the devices its packets arrive on, and from then on forwards them itself
#     (the nft table's counters stay flat, the BPF counts reach show sessions);
#   - a firewall change (any nf_tables commit not the daemon's) sends every SA back to
#     the nft table, and an SA the new firewall drops is not promoted again;
#   - kill -9: the pinned map and the filters keep forwarding, and the restarted daemon
#     takes the map back;
#   - --flush-on-exit takes the program off every device and unpins the map;
#   - esp_offload 1 without the object: one line naming the problem, the nft table
#     forwards, and show counters says why.
# Prints one PASS/FAIL line per check and "N passed, M failed" at the end.
# Usage: tests/host/offload_netns.sh path/to/ike-esp-alg path/to/esp_fastpath.bpfel.o   (as root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(readlink -f "${1:?usage: $0 BINARY BPF_OBJECT}")
object=$(readlink -f "${2:?usage: $0 BINARY BPF_OBJECT}")
packets=$here/packets.py
# shellcheck source=scripts/netns.sh
. "$here/../../scripts/netns.sh"
tag=ieo$$
C1=${tag}c1 R=${tag}r S=${tag}s
work=$(mktemp -d)
passed=0 failed=0
daemon_pid=

if [ "$(id -u)" != 0 ] || ! command -v nft >/dev/null || ! command -v iptables-nft >/dev/null || ! command -v tc >/dev/null; then
    echo "skip: needs root, nft, iptables-nft and tc"; echo "0 passed, 0 failed"; exit 0
fi

check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    netns_cleanup
    mountpoint -q "$work/bpffs" 2>/dev/null && umount "$work/bpffs"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A bpf filesystem of the test's own: `ip netns exec` mounts a /sys of its own, so
# /sys/fs/bpf is not one there, and the host's must not get our pins.
mkdir -p "$work/bpffs"
mount -t bpf bpf "$work/bpffs" || { echo "FAIL cannot mount a bpf filesystem"; exit 1; }
pin=$work/bpffs/ike-esp-alg/esp_sa

netns_add "$C1" "$R" "$S" || exit 1
netns_veth "$C1" c1 "$R" l1; netns_veth "$R" wan "$S" s0
ip -n "$R" link add br-lan type bridge
ip -n "$R" link set l1 master br-lan; ip -n "$R" link set br-lan up
netns_addr "$C1" c1 192.168.1.10/24
netns_addr "$R" br-lan 192.168.1.1/24; netns_addr "$R" wan 203.0.113.7/24
netns_addr "$S" s0 203.0.113.1/24; netns_addr "$S" lo 198.51.100.1/32
ip -n "$C1" route add default via 192.168.1.1
ip -n "$R" route add default via 203.0.113.1
netns_router "$R"
# fw4's shape where it matters here: masquerade on wan, and a forward chain of its own.
ip netns exec "$R" nft -f - <<'NFT'
table inet fw4 {
  chain forward { type filter hook forward priority filter; policy accept; }
  chain srcnat { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
}
NFT
ip netns exec "$S" nft -f - <<'NFT'
table inet sink {
  counter esp_from_nat {}
  chain in { type filter hook prerouting priority -400; policy accept;
    ip protocol esp ip saddr 203.0.113.7 counter name esp_from_nat; }
}
NFT
ip netns exec "$C1" nft -f - <<'NFT'
table inet sink {
  counter esp_in {}
  chain in { type filter hook prerouting priority -400; policy accept; ip protocol esp counter name esp_in; }
}
NFT
cat > "$work/config" <<'EOF2'
config alg 'ike_esp_nat'
	option enabled '1'
	option esp_gate_timeout '5'
	option esp_offload '1'
config rule_set 'rs1'
	option from_zone 'lan'
	option to_zone 'wan'
config rule 'r1'
	option rule_set 'rs1'
	list source_address '192.168.1.0/24'
	option source_nat 'interface'
EOF2

start_daemon() { # [extra daemon arguments]
    ip netns exec "$R" "$bin" daemon --config "$work/config" --state "$work/state" --control "$work/sock" \
        --egress-device wan --queue-backend xtables --bpf-object "$object" --bpf-pin "$pin" "$@" >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do show counters >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "daemon did not start:"; cat "$work/daemon.log"; return 1
}
show() { ip netns exec "$R" "$bin" show "$@" --control "$work/sock"; }
counter() { ip netns exec "$1" nft list counter inet sink "$2" | awk '/packets/ {print $2}'; }
# The nft table's per-SA counters, summed over both maps.
nft_sa_packets() {
    ip netns exec "$R" nft list map ip ike_esp_alg "$1" | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}'
}
fast_path() { # a python expression over the fast_path object of show counters --json
    show counters --json | python3 -c "import json, sys; f = json.load(sys.stdin)['fast_path']; print($1)"
}
json_num() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
ours_on() { ip netns exec "$R" tc filter show dev "$1" ingress | grep -q 'ike_esp_alg.*direct-action'; }
out_esp() { ip netns exec "$C1" python3 "$packets" esp 192.168.1.10 198.51.100.1 0xa0000001 "$1"; }
in_esp() { ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xa0000002 "$1"; }
wait_for() { # seconds, then a command
    local limit=$(( $1 * 10 )); shift
    for _ in $(seq "$limit"); do "$@" && return 0; sleep 0.1; done
    return 1
}
promoted_is() { [ "$(fast_path "f['offloaded_sas']")" = "$1" ]; }

start_daemon || exit 1
check "esp_offload 1 starts the fast path, its map pinned" \
    sh -c "grep -q 'fast path: tc eBPF from $object, new SA map pinned at $pin' $work/daemon.log && test -e $pin"
check "the program is on the egress device from the start" ours_on wan
check "the ruleset has the promotion rule and its set" \
    sh -c "ip netns exec $R nft list chain ip ike_esp_alg postrouting | grep -q '@esp_passed' && ip netns exec $R nft list set ip ike_esp_alg esp_passed >/dev/null"
# Phase 1 and 2, the answer, and first ESP both ways: the SAs are learned through the queue.
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 2 0 0x1111 0
sleep 0.3
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 32 0xa1 0x1111 0x9999 1
sleep 0.3
port=$(show state --json | python3 -c "import json, sys; print(json.load(sys.stdin)['ike_sas'][0]['nat_port'])")
ip netns exec "$S" python3 "$packets" ike 198.51.100.1 500 203.0.113.7 "$port" 1 32 0xa1 0x1111 0x9999 1
out_esp 3; in_esp 3
sleep 0.3
check "the SAs are learned and forwarded by the nft table first" \
    test "$(counter "$S" esp_from_nat)-$(counter "$C1" esp_in)" = "3-3"
# The next packets pass the forward filters and land in esp_passed; the daemon promotes
# them within its next pass (every second).
out_esp 2; in_esp 2
check "both SAs promoted within 2 s of passing the filters" wait_for 2 promoted_is 2
show counters > "$work/counters.txt"
check "show counters names the fast path and its devices" \
    sh -c "grep -Eq 'Fast path: tc eBPF(, [^,]*,)? on (br-lan, wan|wan, br-lan) \(2 SAs offloaded' $work/counters.txt"
# JIT or interpreter, as net.core.bpf_jit_enable had it when the program was loaded.
case "$(cat /proc/sys/net/core/bpf_jit_enable 2>/dev/null)" in
1 | 2) execution=jit words="tc eBPF, JIT-compiled, on" logged="; JIT-compiled (" ;;
*) execution=interpreter words="tc eBPF, interpreted" logged="; interpreted (" ;;
esac
show counters --json > "$work/counters.json"
check "show counters and the log say the program is run by the $execution" \
    sh -c "grep -q '$words' $work/counters.txt && grep -q '\"execution\":\"$execution\"' $work/counters.json && grep -q 'fast path: tc eBPF from .*$logged' $work/daemon.log"
check "the program went onto br-lan, where the client's packets arrive" ours_on br-lan
# Another user's filter after ours on the same hook (qosify's, a mirred to an ifb) still
# sees what the program does not take: it returns TC_ACT_UNSPEC, not TC_ACT_OK. The later
# filter mirrors IPv4 to a veth of its own, whose transmit counter tells.
ip -n "$R" link add probe0 type veth peer name probe1
# No IPv6 on it: its own router solicitations and MLD reports would count.
for dev in probe0 probe1; do ip netns exec "$R" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"; done
ip -n "$R" link set probe0 up
ip -n "$R" link set probe1 up
probe_sent() { ip netns exec "$R" cat /sys/class/net/probe0/statistics/tx_packets; }
ip netns exec "$R" tc filter add dev wan ingress pref 49152 protocol ip u32 match u32 0 0 \
    action mirred egress mirror dev probe0
probe_before=$(probe_sent)
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xbad00001 3  # an unknown SPI
sleep 0.3
check "a later filter on the hook still sees what the program does not take (3 of 3 ESP, unknown SPI)" \
    test "$(( $(probe_sent) - probe_before ))" -ge 3
ip netns exec "$R" tc filter del dev wan ingress pref 49152
ip -n "$R" link del probe0
nft_before=$(( $(nft_sa_packets esp_out) + $(nft_sa_packets esp_in) ))
server_before=$(counter "$S" esp_from_nat) client_before=$(counter "$C1" esp_in)
out_esp 100; in_esp 100
sleep 0.3
check "promoted SAs are forwarded both ways, translated" \
    test "$(( $(counter "$S" esp_from_nat) - server_before ))-$(( $(counter "$C1" esp_in) - client_before ))" = "100-100"
check "and not by the nft table: its SA counters stay flat over 200 packets" \
    test "$(( $(nft_sa_packets esp_out) + $(nft_sa_packets esp_in) ))" = "$nft_before"
sleep 2.1  # show reads the kernel's counters at most every 2 s
show sessions --json > "$work/sessions.json"
# 3 learning + 2 promoting packets went through the nft table, 100 through the program.
# (The outbound SA also counts its first packets twice, in the queue and in postrouting's
# map: at least 105 there.)
sa_packets() {
    python3 -c "import json; print(next(s['packets'] for s in json.load(open('$work/sessions.json'))['sessions'] if s['spi'] == '$1'))"
}
counted_both() { [ "$(sa_packets 0xa0000002)" = 105 ] && [ "$(sa_packets 0xa0000001)" -ge 105 ]; }
check "show sessions counts the program's packets with the nft table's" counted_both
check "show counters counts the promotions" test "$(show counters --json | json_num offload_promoted)" = 2

# A firewall change: fw4 reloads with a rule that drops the client's ESP. Every SA goes
# back to the nft table; the outbound SA's packets now stop at the filter and must not be
# promoted again; the inbound SA passes and comes back.
ip netns exec "$R" nft add rule inet fw4 forward ip saddr 192.168.1.10 ip protocol esp drop
check "a foreign nf_tables commit sends every SA back to the nft table within 2 s" wait_for 2 promoted_is 0
check "and says so in one line" \
    sh -c "grep -c 'fast path: the ruleset changed (not by us); 2 SAs back on the nft table' $work/daemon.log | grep -qx 1"
server_before=$(counter "$S" esp_from_nat) client_before=$(counter "$C1" esp_in)
out_esp 5; in_esp 5
check "the inbound SA, which the new firewall passes, is promoted again" wait_for 2 promoted_is 1
out_esp 20; in_esp 20
sleep 0.3
check "the outbound SA, which the new firewall drops, stays dropped (none of 25 arrive)" \
    test "$(( $(counter "$S" esp_from_nat) - server_before ))-$(( $(counter "$C1" esp_in) - client_before ))" = "0-25"
check "show counters counts the refill" test "$(show counters --json | json_num offload_firewall_refills)" = 1
ip netns exec "$R" nft flush chain inet fw4 forward
check "the drop rule's removal is a change too: both SAs back on the nft table" wait_for 2 promoted_is 0
out_esp 2; in_esp 2
check "with the drop rule gone, both SAs are promoted again" wait_for 3 promoted_is 2

# kill -9: the filters and the pinned map keep forwarding; the next daemon takes them back.
kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
server_before=$(counter "$S" esp_from_nat) client_before=$(counter "$C1" esp_in)
nft_before=$(( $(nft_sa_packets esp_out) + $(nft_sa_packets esp_in) ))
out_esp 10; in_esp 10
sleep 0.3
check "after kill -9 the program forwards both SAs on its own" \
    test "$(( $(counter "$S" esp_from_nat) - server_before ))-$(( $(counter "$C1" esp_in) - client_before ))-$(( $(nft_sa_packets esp_out) + $(nft_sa_packets esp_in) - nft_before ))" = "10-10-0"
start_daemon || exit 1
check "the restarted daemon takes the pinned map back with both SAs" \
    sh -c "grep -q 'SA map taken back from $pin' $work/daemon.log && grep -q 'took back 2 SAs from the pinned map, removed 0 stale ones' $work/daemon.log"
check "and reports them offloaded at once" promoted_is 2

# --flush-on-exit removes everything, the program and the pin included.
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
start_daemon --flush-on-exit || exit 1
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
check "--flush-on-exit takes the program off every device and unpins the map" \
    sh -c "! ip netns exec $R tc filter show dev wan ingress | grep -q ike_esp_alg && ! ip netns exec $R tc filter show dev br-lan ingress | grep -q ike_esp_alg && test ! -e $pin"

# No object: the nft table forwards, and the operator is told why.
ip netns exec "$R" "$bin" daemon --config "$work/config" --state "$work/state" --control "$work/sock" \
    --egress-device wan --queue-backend xtables --bpf-object "$work/missing.o" --bpf-pin "$pin" >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do show counters >/dev/null 2>&1 && break; sleep 0.1; done
check "esp_offload 1 without the object: one line, and the nft table forwards" \
    sh -c "grep -q 'fast path: esp_offload is on, but cannot read $work/missing.o' $work/daemon.log"
check "show counters --json says why in fast_path.fallback" \
    test "$(fast_path "f['active'] + ' ' + str('missing.o' in f.get('fallback', ''))")" = "nft True"
client_before=$(counter "$C1" esp_in)
in_esp 3
sleep 0.3
check "learned SAs still flow through the nft table" test "$(( $(counter "$C1" esp_in) - client_before ))" = 3

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

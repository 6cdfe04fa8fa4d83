#!/usr/bin/env bash
# End to end on this host's kernel, in namespaces of its own: two clients behind one NAT
# router running the daemon, one server. Crafted IKE and ESP (this kernel has no IPsec and
# no nft `queue`, so the daemon uses its iptables-nft NFQUEUE backend). Checks that:
#   - both clients' phase 2 are serialised and both learn their SAs both ways;
#   - inbound ESP reaches the client that negotiated its SPI, and no other;
#   - unsolicited inbound ESP is dropped and counted;
#   - after learning, ESP no longer reaches the queue (kernel counters stay flat);
#   - kill -9 then restart: learned SAs keep flowing meanwhile and `show` lists them again;
#   - a WAN address change reaches the ruleset from rtnetlink notifications within a second,
#     and the conntrack entries of IKE flows translated to the old address go with it;
#   - proxy-ARP pool addresses (over rtnetlink): claimed, kept by a refused reload, released
#     only for what leaves a pool, removed on `enabled 0` and --flush-on-exit.
# Prints one PASS/FAIL line per check and "N passed, M failed" at the end.
# Usage: tests/host/daemon_netns.sh [path/to/ike-esp-alg]   (as root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../target/debug/ike-esp-alg}
bin=$(readlink -f "$bin")
packets=$here/packets.py
# shellcheck source=scripts/netns.sh
. "$here/../../scripts/netns.sh"
tag=iea$$
C1=${tag}c1 C2=${tag}c2 R=${tag}r S=${tag}s
work=$(mktemp -d)
passed=0 failed=0
daemon_pid=

if [ "$(id -u)" != 0 ] || ! command -v nft >/dev/null || ! command -v iptables-nft >/dev/null; then
    echo "skip: needs root, nft and iptables-nft"; echo "0 passed, 0 failed"; exit 0
fi

check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    netns_cleanup
    mountpoint -q "$work/run" 2>/dev/null && umount "$work/run"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

netns_add "$C1" "$C2" "$R" "$S" || exit 1
netns_veth "$C1" c1 "$R" l1; netns_veth "$C2" c2 "$R" l2; netns_veth "$R" wan "$S" s0
ip -n "$R" link add br-lan type bridge
ip -n "$R" link set l1 master br-lan; ip -n "$R" link set l2 master br-lan; ip -n "$R" link set br-lan up
netns_addr "$C1" c1 192.168.1.10/24; netns_addr "$C2" c2 192.168.1.11/24
netns_addr "$R" br-lan 192.168.1.1/24; netns_addr "$R" wan 203.0.113.7/24
netns_addr "$S" s0 203.0.113.1/24; netns_addr "$S" lo 198.51.100.1/32
ip -n "$C1" route add default via 192.168.1.1; ip -n "$C2" route add default via 192.168.1.1
ip -n "$R" route add default via 203.0.113.1
netns_router "$R"
# fw4's shape where it matters here: masquerade on wan.
ip netns exec "$R" nft -f - <<'NFT'
table inet fw4 {
  chain srcnat { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
}
NFT
# The server counts what arrives, and from where.
ip netns exec "$S" nft -f - <<'NFT'
table inet sink {
  counter esp_from_nat {}
  counter ike_from_nat_500 {}
  chain in { type filter hook prerouting priority -400; policy accept;
    ip protocol esp ip saddr 203.0.113.7 counter name esp_from_nat;
    udp sport 500 ip saddr 203.0.113.7 counter name ike_from_nat_500; }
}
NFT
for c in $C1 $C2; do
    ip netns exec "$c" nft -f - <<'NFT'
table inet sink {
  counter esp_in {}
  chain in { type filter hook prerouting priority -400; policy accept; ip protocol esp counter name esp_in; }
}
NFT
done
cat > "$work/config" <<'EOF2'
config alg 'ike_esp_nat'
	option enabled '1'
	option esp_gate_timeout '5'
config nat 'source'
	option address_persistent '1'
config rule_set 'rs1'
	option from_zone 'lan'
	option to_zone 'wan'
config rule 'r1'
	option rule_set 'rs1'
	list source_address '192.168.1.0/24'
	option source_nat 'interface'
EOF2

start_daemon() {
    ip netns exec "$R" "$bin" daemon --config "$work/config" --state "$work/state" --control "$work/sock" \
        --egress-device wan --queue-backend xtables >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    # A killed daemon leaves its socket file: wait until one answers, not until one exists.
    for _ in $(seq 50); do show counters >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "daemon did not start:"; cat "$work/daemon.log"; return 1
}
show() { ip netns exec "$R" "$bin" show "$@" --control "$work/sock"; }
counter() { ip netns exec "$1" nft list counter inet sink "$2" | awk '/packets/ {print $2}'; }
kcounter() { ip netns exec "$R" nft list counter ip ike_esp_alg "$1" | awk '/packets/ {print $2}'; }
json_num() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
# The server's Quick Mode answer to a client, at its NAT address and IKE port (show state).
# A gate takes inbound ESP only once its exchange has been answered.
qm_answer() { # CLIENT MSGID ISPI RSPI
    local port
    port=$(show state --json | python3 -c "import json, sys; print(next(s['nat_port'] for s in json.load(sys.stdin)['ike_sas'] if s['client'] == '$1'))")
    ip netns exec "$S" python3 "$packets" ike 198.51.100.1 500 203.0.113.7 "$port" 1 32 "$2" "$3" "$4" 1
}

# What libuci's reading silently drops is read the same way, with a FILE:LINE warning from
# `check` (which still passes) and from the daemon.
printf "config alg 'ike_esp_nat'\n\toption enabled '1'\n\toption fail_open 1; option queue_num 7\n" > "$work/odd"
check "check warns about text libuci ignores and still passes" \
    sh -c "'$bin' check --config '$work/odd' 2>'$work/odd.err' && grep -q '^$work/odd:3: warning: ' '$work/odd.err'"
start_daemon || exit 1
# Phase 1 of both clients, then phase 2 of client 1; client 2's phase 2 must wait.
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 2 0 0x1111 0
ip netns exec "$C2" python3 "$packets" ike 192.168.1.11 500 198.51.100.1 500 1 2 0 0x2222 0
sleep 0.5
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 32 0xa1 0x1111 0x9999 1
sleep 0.5
ip netns exec "$C2" python3 "$packets" ike 192.168.1.11 500 198.51.100.1 500 1 32 0xb1 0x2222 0x8888 1
sleep 0.3
check "IKE leaves from the NAT address, port 500 kept for the first client" test "$(counter "$S" ike_from_nat_500)" -ge 1
check "second client's phase 2 dropped while the first holds the gates" \
    test "$(show counters --json | json_num phase2_dropped_gate_busy)" = 1
qm_answer 192.168.1.10 0xa1 0x1111 0x9999
ip netns exec "$C1" python3 "$packets" esp 192.168.1.10 198.51.100.1 0xa0000001 3
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xa0000002 3
sleep 0.3
check "client 1 outbound ESP arrives from the NAT address" test "$(counter "$S" esp_from_nat)" = 3
check "client 1 gets its inbound ESP" test "$(counter "$C1" esp_in)" = 3
# Client 2's Quick Mode was held, not dropped: it went through when client 1's gates collapsed.
check "client 2's held phase 2 released when the gates collapsed, no retransmission needed" \
    test "$(show counters --json | json_num held_released)-$(show counters --json | json_num phase2_allowed)" = "1-2"
# Client 2's peer retransmits anyway (it passes as part of the exchange) and learns its SAs.
ip netns exec "$C2" python3 "$packets" ike 192.168.1.11 500 198.51.100.1 500 1 32 0xb1 0x2222 0x8888 1
sleep 0.2
qm_answer 192.168.1.11 0xb1 0x2222 0x8888
ip netns exec "$C2" python3 "$packets" esp 192.168.1.11 198.51.100.1 0xb0000001 2
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xb0000002 2
sleep 0.3
check "client 2 gets its inbound ESP, client 1 none of it" \
    test "$(counter "$C2" esp_in)-$(counter "$C1" esp_in)" = "2-3"
queued_before=$(( $(kcounter queued_esp_out) + $(kcounter queued_esp_in) ))
ip netns exec "$C1" python3 "$packets" esp 192.168.1.10 198.51.100.1 0xa0000001 50
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xb0000002 50
sleep 0.3
queued_after=$(( $(kcounter queued_esp_out) + $(kcounter queued_esp_in) ))
check "learned SAs never reach the queue (queue counters flat over 100 packets)" test "$queued_before" = "$queued_after"
check "learned SAs are forwarded by the kernel" test "$(counter "$C2" esp_in)-$(counter "$S" esp_from_nat)" = "52-55"
# show counts the kernel's packets too: client 2's inbound SA carried 2 + 50 packets.
sleep 2.1  # show reads the kernel's counters at most every 2 s
ip netns exec "$R" "$bin" show sessions --json --control "$work/sock" > "$work/sessions.json"
check "show sessions reports the kernel's packet count" \
    sh -c "grep -o '\"spi\":\"0xb0000002\",\"origin\":\"gate\",\"packets\":[0-9]*' $work/sessions.json | grep -q ':52\$'"
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0x0badf00d 5
sleep 0.3
check "unsolicited inbound ESP dropped and counted" \
    test "$(show counters --json | json_num inbound_esp_dropped_no_gate)-$(counter "$C1" esp_in)-$(counter "$C2" esp_in)" = "5-3-52"
check "show sessions lists 2 clients with SPI in and out" sh -c "ip netns exec $R $bin show sessions --control $work/sock | grep -c 0xa0000002.*0xa0000001 | grep -qx 1"
# shellcheck source=tests/host/rpcd_plugin_checks.sh
. "$here/rpcd_plugin_checks.sh"
# fw4 reload flushes and rebuilds `inet fw4`; the ALG's own table and learned SAs stay.
ip netns exec "$R" nft -f - <<'NFT'
flush table inet fw4
table inet fw4 {
  chain srcnat { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
}
NFT
before=$(counter "$C2" esp_in)
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xb0000002 3
sleep 0.3
check "learned SAs keep flowing across an fw4 reload" test "$(counter "$C2" esp_in)" = $((before + 3))
# `/etc/init.d/firewall stop` runs `fw4 flush`, which deletes every table: the ALG's, and
# iptables-nft's with the NFQUEUE rule. Under traffic, the daemon puts both back with
# every learned SA within about a second, and says so in one line.
for _ in $(seq 20); do ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xb0000002 1; sleep 0.1; done &
traffic=$!
sleep 0.5
flushed=$(date +%s%N)
ip netns exec "$R" nft flush ruleset
for _ in $(seq 60); do ip netns exec "$R" nft list table ip ike_esp_alg >/dev/null 2>&1 && break; sleep 0.05; done
echo "INFO table ip ike_esp_alg back $(( ($(date +%s%N) - flushed) / 1000000 )) ms after nft flush ruleset"
wait "$traffic"
sleep 0.5
check "a deleted table is re-installed with every learned SA, in one log line" \
    sh -c "grep -c 'table ip ike_esp_alg was deleted (fw4 flush?); re-installed it with 4 sessions, 2 bindings, 2 IKE mappings' $work/daemon.log | grep -qx 1"
check "the re-installed datapath has its queue rule again" \
    sh -c "ip netns exec $R iptables-nft -t raw -S | grep -q NFQUEUE && ip netns exec $R nft list counter ip ike_esp_alg queued_esp_in >/dev/null"
before=$(counter "$C2" esp_in) before_out=$(counter "$S" esp_from_nat)
queued_before=$(kcounter queued_esp_in)
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xb0000002 3
ip netns exec "$C1" python3 "$packets" esp 192.168.1.10 198.51.100.1 0xa0000001 3
sleep 0.3
check "after the table came back, learned SAs flow both ways without the queue" \
    test "$(counter "$C2" esp_in)-$(counter "$S" esp_from_nat)-$(kcounter queued_esp_in)" = "$((before + 3))-$((before_out + 3))-$queued_before"
check "show counters counts the re-install" test "$(show counters --json | json_num table_reinstalls)" = 1
# `/etc/init.d/firewall start` again: fw4's table back as it was.
ip netns exec "$R" nft -f - <<'NFT'
table inet fw4 {
  chain srcnat { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }
}
NFT
# SIGHUP with a broken file: one clear line per problem, the running configuration stays.
cp "$work/config" "$work/config.good"
echo "	option esp_gate_timeout '45'" >> "$work/config"
kill -HUP "$daemon_pid"; sleep 0.5
check "SIGHUP with a bad file keeps the daemon running on the old configuration" \
    sh -c "kill -0 $daemon_pid && grep -q \"reload refused, keeping the running configuration: $work/config:13: rule 'r1' option 'esp_gate_timeout': unknown option\" $work/daemon.log && \
        test \"\$(ip netns exec $R $bin show counters --json --control $work/sock | grep -o '\"reload_failures\":[0-9]*')\" = '\"reload_failures\":1'"
cp "$work/config.good" "$work/config"
kill -HUP "$daemon_pid"; sleep 0.5
check "SIGHUP with a good file reloads and keeps the sessions" \
    sh -c "grep -q 'configuration reloaded' $work/daemon.log && test \"\$(ip netns exec $R $bin show sessions --json --control $work/sock | grep -o '\"spi\"' | wc -l)\" = 4"
# kill -9: the kernel keeps forwarding; a restarted daemon lists the sessions again.
kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
ip netns exec "$S" python3 "$packets" esp 198.51.100.1 203.0.113.7 0xa0000002 4
sleep 0.2
check "after kill -9 learned SAs keep flowing" test "$(counter "$C1" esp_in)" = 7
start_daemon || exit 1
show sessions --json > "$work/restored.json" 2>&1
check "restarted daemon takes the 4 sessions back from the kernel" test "$(grep -o '"spi"' "$work/restored.json" | wc -l)" = 4
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 32 0xa2 0x1111 0x9999 1
sleep 0.2
check "a new phase 2 after restart opens gates" test "$(show counters --json | json_num phase2_allowed)" = 1
rpcd_clear_checks
# A WAN address change (interface SNAT) is followed from the kernel's rtnetlink
# notification, not from a poll: the ruleset's NAT addresses change within a second.
wan_address_moves_to() { # new address, old address: prints the milliseconds it took, or "never"
    local start=${EPOCHREALTIME/[.,]/}
    # As a DHCP client does on a new lease: the old address goes (and the default route
    # through it), the new one comes, and the default route is set again.
    ip -n "$R" addr del "$2/24" dev wan; ip -n "$R" addr add "$1/24" dev wan
    ip -n "$R" route replace default via 203.0.113.1
    for _ in $(seq 100); do
        if grep -q "egress address now $1 " "$work/daemon.log" \
            && ip netns exec "$R" nft list set ip ike_esp_alg nat_addresses | grep -q "$1"; then
            echo $(( (${EPOCHREALTIME/[.,]/} - start) / 1000 )); return 0
        fi
        sleep 0.02
    done
    echo never
}
# Before the change: client 1's IKE flow, translated to 203.0.113.7 by the daemon's snat,
# and an unrelated UDP flow (port 9) snat'ed to the same address by a rule of another
# table ahead of ours. The kernel flushes neither when the address goes (only masquerade's).
ip netns exec "$R" nft -f - <<'NFT'
table ip hosttest {
  chain post { type nat hook postrouting priority srcnat - 20; policy accept; udp dport 9 snat ip to 203.0.113.7; }
}
NFT
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 2 0 0x4444 0
ip netns exec "$C1" python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("192.168.1.10", 6000)); s.sendto(b"x", ("198.51.100.1", 9))'
sleep 0.2
ct_to_old() { # ORIG-DPORT: how many UDP entries to that port answer to 203.0.113.7
    ip netns exec "$R" conntrack -L -p udp 2>/dev/null | grep -c "dport=$1 .*src=198.51.100.1 dst=203.0.113.7 "
}
check "before the change: IKE flows and the port-9 flow are translated to 203.0.113.7" \
    test "$(ct_to_old 500)" -ge 1 -a "$(ct_to_old 9)" = 1
moved=$(wan_address_moves_to 203.0.113.9 203.0.113.7)
echo "  WAN address change followed in $moved ms"
check "a WAN address change reaches the ruleset within a second" test "$moved" != never -a "${moved/never/9999}" -lt 1000
for _ in $(seq 50); do grep -q "egress: removed .* translated to 203.0.113.7" "$work/daemon.log" && break; sleep 0.02; done
echo "  $(grep "egress: .*translated to 203.0.113.7" "$work/daemon.log" | tail -n1)"
check "after the change no IKE flow's conntrack entry to the old address is left, the port-9 one stays" \
    test "$(ct_to_old 500)-$(ct_to_old 9)" = "0-1"
check "the daemon logs and counts the removed entries" \
    sh -c "grep -Eq 'egress: removed [1-9][0-9]* IKE conntrack entries translated to 203.0.113.7\$' $work/daemon.log && \
        test \"\$(ip netns exec $R $bin show counters --json --control $work/sock | grep -o '\"egress_conntrack_removed\":[0-9]*' | cut -d: -f2)\" -ge 1"
ip netns exec "$R" nft delete table ip hosttest
moved=$(wan_address_moves_to 203.0.113.7 203.0.113.9)
check "and changing it back too" test "$moved" != never
kill -TERM "$daemon_pid"; wait "$daemon_pid"; rc=$?; daemon_pid=
check "SIGTERM exits cleanly and writes the state file" sh -c "[ $rc = 0 ] && head -1 $work/state | grep -q ike-esp-alg-state"
# A pool with proxy ARP: the router answers for the pool addresses and clients leave from them.
cat > "$work/config" <<'EOF2'
config alg 'ike_esp_nat'
	option enabled '1'
config pool 'pool1'
	list address '203.0.113.20-203.0.113.21'
	option proxy_arp '1'
config rule_set 'rs1'
	option from_zone 'lan'
	option to_zone 'wan'
config rule 'r1'
	option rule_set 'rs1'
	list source_address '192.168.1.0/24'
	option source_nat 'pool1'
EOF2
rm -f "$work/state"
ip netns exec "$R" nft delete table ip ike_esp_alg
# Established UDP flows keep the NAT they started with; a new NAT setup starts clean.
ip netns exec "$R" conntrack -F >/dev/null 2>&1
start_daemon || exit 1
# Any datagram to a pool address makes the server ARP for it; the router must answer.
ip netns exec "$S" python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("203.0.113.21", 9))'
sleep 0.5
check "pool addresses answer ARP from the WAN side" sh -c "ip -n $S neigh show 203.0.113.21 | grep -q lladdr"
ip netns exec "$S" nft add rule inet sink in udp sport 500 ip saddr 203.0.113.20 counter
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 2 34 0 0x3333 0 8
sleep 0.3
check "IKE leaves from the client's pool address" \
    sh -c "ip netns exec $S nft list chain inet sink in | grep -q 'saddr 203.0.113.20 counter packets 1'"
# A refused reload changes nothing, the pool addresses included; an accepted one that
# shrinks a pool removes only the addresses that left it.
cp "$work/config" "$work/config.good"
sed -i "s/option proxy_arp '1'/option proxy_arp '1'\n\toption proxy_arp_typo '1'/" "$work/config"
kill -HUP "$daemon_pid"; sleep 0.5
check "a refused reload keeps the pool addresses" \
    sh -c "[ \$(grep -c 'reload refused' $work/daemon.log) = 2 ] && ip -n $R addr show dev wan | grep -q '203.0.113.20/32' && ip -n $R addr show dev wan | grep -q '203.0.113.21/32'"
sed "s/203.0.113.20-203.0.113.21/203.0.113.20-203.0.113.20/" "$work/config.good" > "$work/config"
kill -HUP "$daemon_pid"; sleep 0.5
check "a reload that shrinks a pool releases only what left it" \
    sh -c "ip -n $R addr show dev wan | grep -q '203.0.113.20/32' && ! ip -n $R addr show dev wan | grep -q '203.0.113.21/32'"
cp "$work/config.good" "$work/config"
kill -HUP "$daemon_pid"; sleep 0.5
# NFQUEUE overflow: a burst of 8,000 packets of a new SA while the daemon is stopped
# (SIGSTOP) overflows the queue (4,096) and the socket. Packets beyond them fail open and
# pass at once; the daemon counts what the kernel could not deliver, catches up on what
# waited, learns the SA, and stays responsive.
ip netns exec "$S" nft add counter inet sink burst
ip netns exec "$S" nft add rule inet sink in ip protocol esp @th,0,32 0x0badf00d counter name burst
overflow_before=$(show counters --json | json_num queue_overflow)
kill -STOP "$daemon_pid"
ip netns exec "$C1" python3 "$packets" esp 192.168.1.10 198.51.100.1 0x0badf00d 8000
sleep 0.3
passed_while_stopped=$(counter "$S" burst)
kill -CONT "$daemon_pid"; sleep 1
check "queue overflow: what the queue could not hold passed at once (fail open)" \
    test "$passed_while_stopped" -gt 0 -a "$passed_while_stopped" -lt 8000
check "queue overflow: the daemon counts the overflow (queue_overflow), and lets through what waited" \
    test "$(show counters --json | json_num queue_overflow)" -gt "$overflow_before" -a "$(counter "$S" burst)" = 8000
check "after the overflow the daemon learned the SA and still answers" \
    sh -c "ip netns exec $R $bin show sessions --json --control $work/sock | grep -q '0x0badf00d'"
echo "queue overflow: $passed_while_stopped of 8000 passed while the daemon was stopped, $(counter "$S" burst) in all"

# SIGTERM leaves the datapath and the pool addresses in place: learned SAs keep flowing.
kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=
check "SIGTERM leaves the table and the pool addresses" \
    sh -c "ip netns exec $R nft list table ip ike_esp_alg >/dev/null && ip -n $R addr show dev wan | grep -q 203.0.113.20"
# enabled 0: the daemon removes its table and the pool addresses, and exits 0.
sed -i "s/option enabled '1'/option enabled '0'/" "$work/config"
ip netns exec "$R" "$bin" daemon --config "$work/config" --state "$work/state" --control "$work/sock" \
    --egress-device wan --queue-backend xtables >>"$work/daemon.log" 2>&1
check "enabled 0 exits cleanly" test $? = 0
check "enabled 0 removes every rule and queue" sh -c "! ip netns exec $R nft list table ip ike_esp_alg >/dev/null 2>&1"
check "enabled 0 releases the pool addresses" sh -c "! ip -n $R addr show dev wan | grep -q 203.0.113.20"
# --flush-on-exit: SIGTERM removes everything too. This run has an empty environment, as
# procd-ujail starts a jailed instance: no PATH, so nft and iptables-nft are found by
# their absolute paths.
sed -i "s/option enabled '0'/option enabled '1'/" "$work/config"
ip netns exec "$R" env -i "$bin" daemon --config "$work/config" --state "$work/state" --control "$work/sock" \
    --egress-device wan --queue-backend xtables --flush-on-exit >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do show counters >/dev/null 2>&1 && break; sleep 0.1; done
check "with no PATH the daemon applies its ruleset and queue rule" \
    sh -c "ip netns exec $R nft list table ip ike_esp_alg >/dev/null && ip netns exec $R iptables-nft -t raw -S | grep -q NFQUEUE"
check "pool addresses claimed again" sh -c "ip -n $R addr show dev wan | grep -q 203.0.113.20"
kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=
check "--flush-on-exit: SIGTERM removes rules, queues and pool addresses" \
    sh -c "! ip netns exec $R nft list table ip ike_esp_alg >/dev/null 2>&1 && ! ip -n $R addr show dev wan | grep -q 203.0.113.20"
# SIGHUP after `enabled 0`: the daemon removes its rules and pool addresses and exits 0.
start_daemon || exit 1
sed -i "s/option enabled '1'/option enabled '0'/" "$work/config"
kill -HUP "$daemon_pid"; wait "$daemon_pid"; rc=$?; daemon_pid=
check "SIGHUP with enabled 0 removes rules and pool addresses and exits 0" \
    sh -c "[ $rc = 0 ] && ! ip netns exec $R nft list table ip ike_esp_alg >/dev/null 2>&1 && ! ip -n $R addr show dev wan | grep -q 203.0.113.20 && grep -q 'disabled by reload' $work/daemon.log"
# A full /var/run: a save that finds no space leaves the last saved file as it was, is
# logged once however often it is retried, and the daemon runs on; saving works again once
# there is room (issue "Scale and faults": the state file on a full tmpfs).
run="$work/run"
mkdir -p "$run"
mount -t tmpfs -o size=64k tmpfs "$run" && run_mounted=1
sed -i "s/option enabled '0'/option enabled '1'/" "$work/config"
start_state_daemon() {
    ip netns exec "$R" "$bin" daemon --config "$work/config" --state "$run/state" --control "$work/sock" \
        --egress-device wan --queue-backend xtables >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do show counters >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
start_state_daemon
ip netns exec "$C1" python3 "$packets" ike 192.168.1.10 500 198.51.100.1 500 1 2 0 0x7777 0
sleep 0.2
kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=
cp "$run/state" "$work/state.saved"
start_state_daemon
dd if=/dev/zero of="$run/fill" bs=4k 2>/dev/null
ip netns exec "$C2" python3 "$packets" ike 192.168.1.11 500 198.51.100.1 500 1 2 0 0x7778 0
sleep 31  # two periodic saves (every 15 s while something changed), both failing
check "a full /var/run: the daemon runs on, the last saved file intact, no temporary file left" \
    sh -c "kill -0 $daemon_pid && cmp -s $run/state $work/state.saved && [ ! -e $run/state.tmp ]"
check "a full /var/run is logged once, not at every retry" \
    test "$(grep -c "saving state to $run/state: .*No space left on device" "$work/daemon.log")" = 1
rm -f "$run/fill"
kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=
check "with room again the state is saved, and the log says so once" \
    sh -c "grep -q 'state saved to $run/state again, after 2 failed saves' $work/daemon.log && grep -q 192.168.1.11 $run/state"
if [ "${run_mounted:-0}" = 1 ]; then umount "$run"; fi
if [ "$failed" -gt 0 ]; then echo "--- daemon log"; cat "$work/daemon.log"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

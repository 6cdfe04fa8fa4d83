# shellcheck shell=dash
# The lab's network, built fresh for every scenario, all in namespaces inside the guest:
#
#   c1 192.168.1.10 ─┐                                   ┌─ s  203.0.113.1  (libreswan or
#   c2 192.168.1.11 ─┼─ br-lan 192.168.1.1  [r]  wan ────┤      strongSwan), protected
#   c3 192.168.1.12 ─┘   fw4 ruleset, masquerade on wan  │      net 172.16.0.1/24 on prot0
#                        NAT address 203.0.113.7/24      └─ s2 203.0.113.2  (strongSwan),
#                                                               protected net 172.16.1.1/24
#   The WAN side is a bridge in the namespace "inet". The servers route everything back
#   through 203.0.113.7, so a cleartext reply would reach the router, whose lab table
#   drops cleartext to or from 172.16.0.0/16.

LAB_NS="r inet s s2 c1 c2 c3"
LAB_CLIENTS="c1 c2 c3"
NAT_ADDR=203.0.113.7
S_ADDR=203.0.113.1
S2_ADDR=203.0.113.2
S_NET=172.16.0.0/24
S_HOST=172.16.0.1
S2_NET=172.16.1.0/24
S2_HOST=172.16.1.1

client_addr() {  # c1 -> 192.168.1.10 (c1 to c245)
    echo "192.168.1.$((9 + ${1#c}))"
}

client_list() {  # N -> c1 c2 ... cN
    awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "%sc%d", (i > 1 ? " " : ""), i; print "" }'
}

# topo_up [CLIENT...]: the network with these clients (default c1 c2 c3). The namespaces
# go to $LAB_RUN/netns, so that topo_down, in the runner's shell, deletes them all.
topo_up() {
    _t0=$(now)
    _topo_clients=${*:-$LAB_CLIENTS}
    echo "r inet s s2 $_topo_clients" >"$LAB_RUN/netns"
    for _ns in r inet s s2 $_topo_clients; do
        ip netns add "$_ns"
        nsx "$_ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6;
            echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null
        ip -n "$_ns" link set lo up
    done

    # LAN: a bridge in the router, one veth per client
    ip -n r link add br-lan type bridge
    ip -n r addr add 192.168.1.1/24 dev br-lan
    ip -n r link set br-lan up
    for _c in $_topo_clients; do
        ip link add "lan${_c#c}" netns r type veth peer name eth0 netns "$_c"
        ip -n r link set "lan${_c#c}" master br-lan up
        ip -n "$_c" addr add "$(client_addr "$_c")/24" dev eth0
        ip -n "$_c" link set eth0 up
        ip -n "$_c" route add default via 192.168.1.1
    done

    # WAN: the "internet" bridge with the router and two servers
    ip -n inet link add br0 type bridge
    ip -n inet link set br0 up
    ip link add wan netns r type veth peer name r netns inet
    ip link add eth0 netns s type veth peer name s netns inet
    ip link add eth0 netns s2 type veth peer name s2 netns inet
    for _p in r s s2; do ip -n inet link set "$_p" master br0 up; done
    ip -n r addr add "$NAT_ADDR/24" dev wan
    ip -n r link set wan up
    _topo_server s "$S_ADDR" "$S_HOST"
    _topo_server s2 "$S2_ADDR" "$S2_HOST"

    # The router: forwarding, the fw4 ruleset, the lab's counters and guard.
    nsx r sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
    nsx r nft -f "$LAB_DIR/fw4.nft" || { say "fw4 ruleset failed to load"; return 1; }
    nsx r nft -f "$LAB_DIR/lab.nft" || { say "lab table failed to load"; return 1; }
    say "topology up in $(elapsed "$_t0") s"
}

_topo_server() {  # NS ADDR PROTECTED-HOST
    ip -n "$1" addr add "$2/24" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" route add default via "$NAT_ADDR"
    ip -n "$1" link add prot0 type dummy
    ip -n "$1" addr add "$3/24" dev prot0
    ip -n "$1" link set prot0 up
}

topo_down() {
    _all=$LAB_NS
    [ -s "$LAB_RUN/netns" ] && _all=$(cat "$LAB_RUN/netns")
    for _ns in $_all; do
        ip netns del "$_ns" 2>/dev/null
    done
    rm -f "$LAB_RUN/netns"
}

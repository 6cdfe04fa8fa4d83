# shellcheck shell=bash
# Network namespaces for the host tests (tests/host) and the benchmarks (bench/): one
# builder, so both make their routers, clients and servers the same way. Source it.
#
#   netns_add NAME...             namespaces with loopback up, removed by netns_cleanup
#   netns_veth NS1 DEV1 NS2 DEV2  a veth pair between two namespaces, both ends up
#   netns_addr NS DEV CIDR...     addresses on a device
#   netns_mac NS DEV              a device's MAC address
#   netns_router NS               forwarding on, reverse-path filtering off
#   netns_cleanup                 deletes every namespace netns_add made (for an EXIT trap)
#
# Names should carry the caller's PID (e.g. iea$$r) so that parallel runs never meet.

netns_names=()

netns_add() {
    local n
    for n in "$@"; do
        ip netns add "$n" || return 1
        netns_names+=("$n")
        ip -n "$n" link set lo up
    done
}

netns_veth() {
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

netns_addr() {
    local ns=$1 dev=$2 cidr
    shift 2
    for cidr in "$@"; do ip -n "$ns" addr add "$cidr" dev "$dev" || return 1; done
}

netns_mac() {
    ip netns exec "$1" cat "/sys/class/net/$2/address"
}

netns_router() {
    ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0
}

netns_cleanup() {
    local n
    for n in "${netns_names[@]}"; do ip netns del "$n" 2>/dev/null; done
    netns_names=()
}

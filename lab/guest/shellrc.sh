# shellcheck shell=dash source-path=SCRIPTDIR
# Loaded by the interactive shell the lab leaves on request (lab.shell=1, lab/demo.sh SHELL=1).
# shellcheck source=lib.sh
. /opt/lab/lib.sh
# shellcheck source=topo.sh
. /opt/lab/topo.sh
# shellcheck source=peers.sh
. /opt/lab/peers.sh
# shellcheck source=alg.sh
. /opt/lab/alg.sh
# shellcheck disable=SC2012 # scenario names are plain words
LAB_SCENARIO=$(ls -t /tmp/lab 2>/dev/null | head -n1)
LAB_RUN=/tmp/lab/$LAB_SCENARIO
PS1='lab# '
for _ns in c1 c2 c3 r s s2 inet; do
    # shellcheck disable=SC2139
    alias "$_ns=ip netns exec $_ns"
done
labhelp() {
    cat <<HELP
Namespaces: c1 c2 c3 (LAN clients 192.168.1.10-12), r (router: br-lan 192.168.1.1,
wan 203.0.113.7), s (203.0.113.1, protected 172.16.0.1), s2 (203.0.113.2, protected 172.16.1.1).
Each name is an alias for 'ip netns exec NAME', for example:
  c1 ping -c 3 172.16.0.1          ping through c1's tunnel (cleartext would be dropped)
  r conntrack -L; r conntrack -S   the router's conntrack table and statistics
  r nft list ruleset               fw4 + the lab's table (+ the daemon's, if running)
  s ip xfrm state                  the server's SAs
  whack_ns c1 --trafficstatus      libreswan status in c1 (pluto per namespace)
  algshow                          ike-esp-alg show counters --json (if the daemon runs)
Files of the last scenario: $LAB_RUN (pluto.log, charon.log, alg.log).
'exit' powers the guest off.
HELP
}
algshow() { alg_show; }

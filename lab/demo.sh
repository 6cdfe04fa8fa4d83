#!/bin/bash
# A lab demo to watch: boots the amd64 guest, builds the topology, brings up two legacy
# plain-ESP clients (libreswan IKEv1) and one NAT-T client (strongSwan) behind the
# router's NAT, pings through every tunnel, and shows the servers' SAs, the router's
# firewall and conntrack state and, with a daemon, its `show counters --json`.
#
#   lab/demo.sh                       watch it run, then the guest powers off
#   lab/demo.sh --shell   (or SHELL=1 lab/demo.sh)
#                                     stay in a shell in the guest afterwards ('labhelp')
#   ALG_BIN=path/to/ike-esp-alg lab/demo.sh      with the project's daemon in the router
#
# Without a daemon, c2's ping fails: that is the problem the project solves.
# Environment: DEMO_ARCH (default amd64), plus everything lab/run.sh takes.
set -euo pipefail
LAB=$(cd "$(dirname "$0")" && pwd)
shell=0
[ "${SHELL:-}" = 1 ] && shell=1
for a in "$@"; do
    case "$a" in
    --shell | -s) shell=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $a (try --help)" >&2; exit 2 ;;
    esac
done
arch=${DEMO_ARCH:-amd64}
if [ "$shell" = 1 ]; then
    SHELL_AFTER=1 exec "$LAB/run.sh" "$arch" demo
fi
VERBOSE=1 exec "$LAB/run.sh" "$arch" demo

#!/bin/sh
# A stand-in for the project's daemon that does nothing: it only speaks the lab's
# interface (daemon --config FILE; show counters --json). It checks the lab's plumbing
# (overlay, start, readiness, kill -9 and restart, status output), not the ALG:
#   ALG_BIN=lab/testing/null-daemon.sh lab/run.sh amd64 alg
# With it, single-client and NAT-T checks pass and the multi-client plain-ESP checks fail,
# exactly as without a daemon.
case "$1" in
daemon)
    echo "null-daemon: started with: $*"
    trap 'echo "null-daemon: stopping"; exit 0' TERM INT
    while :; do sleep 1; done
    ;;
show)
    echo '{"null_daemon": true}'
    ;;
*)
    echo "usage: $0 daemon --config FILE | show counters --json" >&2
    exit 2
    ;;
esac

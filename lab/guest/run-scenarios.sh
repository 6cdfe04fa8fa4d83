#!/bin/dash
# shellcheck source-path=SCRIPTDIR
# Runs the named scenarios (or sets: ci, alg, all) one after another, each in a fresh
# topology with a watchdog, dumps the state after a failure, and ends with @@SUMMARY and
# @@DONE. Called by /init with the names from the kernel command line.
# shellcheck source=lib.sh
. /opt/lab/lib.sh
# shellcheck source=topo.sh
. /opt/lab/topo.sh
# shellcheck source=peers.sh
. /opt/lab/peers.sh
# shellcheck source=alg.sh
. /opt/lab/alg.sh
# shellcheck source=scenarios.sh
. /opt/lab/scenarios.sh

SC_TIMEOUT=${SC_TIMEOUT:-420}

names=
for a in "$@"; do
    case "$a" in
    ci) names="$names $SCENARIOS_CI" ;;
    alg) names="$names $SCENARIOS_ALG" ;;
    faults) names="$names $SCENARIOS_FAULTS" ;;
    all) names="$names $SCENARIOS_CI $SCENARIOS_ALG" ;;
    none) ;;
    *) names="$names $a" ;;
    esac
done
# shellcheck disable=SC2086 # word splitting wanted
set -- $names
mkdir -p "$LAB_ROOT"
[ -x "$ALG_BIN" ] && echo "@@INFO lab daemon binary present: $ALG_BIN ($(wc -c <"$ALG_BIN") bytes)"

# The guest itself, before any scenario: syslog captures what is logged to /dev/log (the
# dumps after a failure show its tail).
LAB_SCENARIO=guest LAB_RUN=$LAB_ROOT/guest
export LAB_SCENARIO LAB_RUN
mkdir -p "$LAB_RUN"
: >"$LAB_RUN/results"
echo "@@SCENARIO guest BEGIN"
marker="syslog check $$"
logger -t lab "$marker"
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q "lab: $marker" "$LAB_ROOT/syslog.log" 2>/dev/null && break; sleep 0.1; done
grep -q "lab: $marker" "$LAB_ROOT/syslog.log" 2>/dev/null
check syslog-captured $? "a logger line reaches $LAB_ROOT/syslog.log through /dev/log"
echo "@@SCENARIO guest END 0"

for name in "$@"; do
    LAB_SCENARIO=$name
    LAB_RUN=$LAB_ROOT/$name
    export LAB_SCENARIO LAB_RUN
    rm -rf "$LAB_RUN"
    mkdir -p "$LAB_RUN"
    : >"$LAB_RUN/results"
    : >"$LAB_RUN/pids"
    echo "@@SCENARIO $name BEGIN"
    t0=$(now)
    if ! fn=$(scenario_fn "$name"); then
        result scenario FAIL "unknown scenario '$name' (known: $SCENARIOS_CI $SCENARIOS_ALG alg-many alg-many-settle0 alg-many-pool $SCENARIOS_FAULTS demo; sets ci alg faults all)"
        echo "@@SCENARIO $name END 0"
        continue
    fi
    (
        [ "${LAB_DEBUG:-0}" = 1 ] && set -x
        "$fn"
    ) &
    sc_pid=$!
    sc_timeout=$(scenario_timeout "$name" "$SC_TIMEOUT")
    ( sleep "$sc_timeout"; kill "$sc_pid" 2>/dev/null && : >"$LAB_RUN/timed-out" ) &
    wd_pid=$!
    wait "$sc_pid"
    kill "$wd_pid" 2>/dev/null
    [ -f "$LAB_RUN/timed-out" ] && result watchdog FAIL "scenario still running after $sc_timeout s"
    if [ "$name" != demo ] && [ ! -s "$LAB_RUN/results" ]; then
        result results FAIL "the scenario reported nothing"
    fi
    scenario_failed && dump_state
    # The last scenario stays up when an interactive shell follows.
    if [ "${LAB_KEEP:-0}" != 1 ] || [ "$name" != "$(eval echo "\${$#}")" ]; then
        stop_all
        topo_down
        alg_forget
    fi
    echo "@@SCENARIO $name END $(elapsed "$t0")"
done

cat "$LAB_ROOT"/*/results 2>/dev/null | awk '
    { n[$1]++ }
    END { printf "@@SUMMARY pass=%d fail=%d xfail=%d xpass=%d\n", n["PASS"], n["FAIL"], n["XFAIL"], n["XPASS"] }'
echo "@@INFO lab guest uptime $(cut -d' ' -f1 /proc/uptime) s, memory available $(awk '/MemAvailable/{print $2}' /proc/meminfo) kB"
echo "@@DONE"

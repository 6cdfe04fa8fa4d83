# shellcheck shell=dash
# Common helpers for the guest scripts: result lines, process bookkeeping, waits, dumps.
#
# Machine-readable lines on the console (lab/run.sh collects them):
#   @@SCENARIO <name> BEGIN|END <seconds>
#   @@RESULT <scenario> <check> PASS|FAIL|XFAIL|XPASS [detail...]
#   @@INFO <scenario> <text...>
#   @@DUMP-BEGIN <scenario> ... @@DUMP-END <scenario>   (state dumped after a failure)
#   @@SUMMARY pass=N fail=N xfail=N xpass=N
#   @@DONE
# Everything else on the console is for people.

LAB_DIR=/opt/lab
LAB_ROOT=/tmp/lab
: "${LAB_SCENARIO:=none}"
: "${LAB_RUN:=$LAB_ROOT/$LAB_SCENARIO}"

# --- output ---------------------------------------------------------------
say() { echo "[$LAB_SCENARIO] $*"; }
info() { echo "@@INFO $LAB_SCENARIO $*"; }
section() { echo; echo "===== $* ====="; }

# result CHECK STATUS [DETAIL...]
result() {
    _check=$1 _status=$2
    shift 2
    echo "@@RESULT $LAB_SCENARIO $_check $_status${*:+ $*}"
    echo "$_status $_check" >>"$LAB_RUN/results"
}

# check CHECK CONDITION-EXIT-CODE DETAIL: PASS if the code is 0, else FAIL (returns 1).
check() {
    if [ "$2" -eq 0 ]; then result "$1" PASS "$3"; return 0; fi
    result "$1" FAIL "$3"
    return 1
}

# expect_fail CHECK WORKED(0/1) DETAIL: a known failure. XFAIL when it fails as expected,
# XPASS (which fails the run) when it unexpectedly works.
expect_fail() {
    if [ "$2" -eq 0 ]; then result "$1" XPASS "$3"; else result "$1" XFAIL "$3"; fi
}

scenario_failed() { grep -q -E '^(FAIL|XPASS) ' "$LAB_RUN/results" 2>/dev/null; }

# --- time -----------------------------------------------------------------
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_for SECONDS COMMAND...: retry every 0.5 s until the command succeeds.
wait_for() {
    _deadline=$(awk -v t="$(now)" -v s="$1" 'BEGIN { print t + s }')
    shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        awk -v t="$(now)" -v d="$_deadline" 'BEGIN { exit !(t > d) }' && return 1
        sleep 0.5
    done
}

# --- processes ------------------------------------------------------------
# spawn NAME NETNS LOG COMMAND...: start a long-running process in a namespace, remember
# its PID (in $LAB_RUN/pids and in the variable PID_<NAME>).
spawn() {
    _name=$1 _ns=$2 _log=$3
    shift 3
    ip netns exec "$_ns" "$@" >>"$_log" 2>&1 </dev/null &
    _pid=$!
    echo "$_pid $_name" >>"$LAB_RUN/pids"
    eval "PID_$(echo "$_name" | tr -c 'A-Za-z0-9_\n' _)=$_pid"
}

pid_of() { eval "echo \${PID_$(echo "$1" | tr -c 'A-Za-z0-9_\n' _):-}"; }

stop_all() {  # everything spawned in this scenario, by PID, newest first
    [ -f "$LAB_RUN/pids" ] || return 0
    _pids=$(awk '{ print $1 }' "$LAB_RUN/pids" | sort -rn)
    # shellcheck disable=SC2086
    kill $_pids 2>/dev/null
    for _i in 1 2 3 4 5 6; do
        _alive=
        for _p in $_pids; do kill -0 "$_p" 2>/dev/null && _alive="$_alive $_p"; done
        [ -z "$_alive" ] && break
        sleep 0.5
    done
    # shellcheck disable=SC2086
    [ -n "$_alive" ] && kill -9 $_alive 2>/dev/null
    : >"$LAB_RUN/pids"
}

nsx() { _n=$1; shift; ip netns exec "$_n" "$@"; }

# --- measurements ---------------------------------------------------------
# Pings stop as soon as every reply is in, but wait up to a deadline for late ones: the ALG
# may hold a client's first packets on a new SA for up to one esp_gate_timeout (5 s in the
# lab's config) while another client's gates are open (SPEC rule 1), and hands them on
# when those gates end. PING_SLACK is that allowance, on top of the time to send them all.
PING_SLACK=${PING_SLACK:-8}
ping_deadline() {  # COUNT INTERVAL -> seconds
    awk -v n="$1" -v i="$2" -v s="$PING_SLACK" 'BEGIN { printf "%d", n * i + s + 1 }'
}

# ping_recv NS DST COUNT [INTERVAL]: print how many echo replies came back.
ping_recv() {
    _i=${4:-0.2}
    _r=$(ip netns exec "$1" ping -n -q -c "$3" -i "$_i" -w "$(ping_deadline "$3" "$_i")" "$2" 2>&1 \
        | sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p')
    echo "${_r:-0}"
}

# ping_bg NS DST COUNT FILE [INTERVAL]: ping in the background, summary into FILE. The
# caller takes the PID from $! (not from a command substitution: only the shell that
# started a process can wait for it).
ping_bg() {
    _i=${5:-0.2}
    ip netns exec "$1" ping -n -q -c "$3" -i "$_i" -w "$(ping_deadline "$3" "$_i")" "$2" >"$4" 2>&1 &
}
ping_file_recv() {
    _r=$(sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' "$1" 2>/dev/null)
    echo "${_r:-0}"
}

# Sum of a conntrack -S field over all CPUs in the router.
ct_stat() {
    nsx r conntrack -S 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" \
        | awk '{ s += $1 } END { print s + 0 }'
}

# Value of a named nft counter: nft_counter TABLE COUNTER (in the router) -> packets
nft_counter() {
    nsx r nft list counter inet "$1" "$2" 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p' | head -n1
}

# router_mac DEV: the MAC address of the router's device (a generator's --dst-mac)
router_mac() { ip -n r link show "$1" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# SPIs of the ESP states in a namespace (sorted, one per line)
esp_spis() { ip -n "$1" xfrm state 2>/dev/null | sed -n 's/.*proto esp spi \(0x[0-9a-f]*\).*/\1/p' | sort; }
esp_state_count() { esp_spis "$1" | wc -l; }

# --- dumps ----------------------------------------------------------------
dump_state() {
    echo "@@DUMP-BEGIN $LAB_SCENARIO"
    if [ -f "$LAB_RUN/alg.log" ]; then
        echo "--- daemon log ($LAB_RUN/alg.log, last 200 lines)"
        tail -n 200 "$LAB_RUN/alg.log"
        if [ -x "$ALG_BIN" ]; then
            echo "--- daemon: show counters --json"
            nsx r "$ALG_BIN" show counters --json 2>&1 | head -n 100
        fi
    else
        echo "--- daemon: not started in this scenario"
    fi
    if [ ! -e /run/netns/r ]; then
        echo "--- no topology (the scenario stopped before building it)"
        echo "@@DUMP-END $LAB_SCENARIO"
        return 0
    fi
    echo "--- router: nft list ruleset"
    nsx r nft list ruleset 2>&1
    echo "--- router: conntrack -L"
    nsx r conntrack -L 2>&1
    echo "--- router: conntrack -S"
    nsx r conntrack -S 2>&1
    for _ns in c1 c2 c3 s s2; do
        [ -e "/run/netns/$_ns" ] || continue
        echo "--- $_ns: ip xfrm state (spi/encap) and policy count"
        ip -n "$_ns" xfrm state 2>&1 | grep -E '^src|proto|encap'
        echo "    policies: $(ip -n "$_ns" xfrm policy 2>/dev/null | grep -c '^src')"
    done
    echo "--- syslog (last 60 lines)"
    tail -n 60 "$LAB_ROOT/syslog.log" 2>/dev/null
    echo "--- kernel messages (last 30 lines)"
    dmesg 2>/dev/null | tail -n 30
    for _f in "$LAB_RUN"/*/pluto.log "$LAB_RUN"/*/charon.log; do
        [ -f "$_f" ] || continue
        echo "--- ${_f#"$LAB_RUN"/} (last 40 lines)"
        tail -n 40 "$_f"
    done
    echo "@@DUMP-END $LAB_SCENARIO"
}

# shellcheck shell=dash
# The project's daemon in the router namespace.
#
# Interface (lab/run.sh puts the files in with ALG_BIN=... and ALG_CONFIG=...):
#   binary   /opt/alg/ike-esp-alg
#   config   /opt/alg/ike-esp-alg.uci           (lab/config/ike-esp-alg.uci by default)
#   start    ip netns exec r /opt/alg/ike-esp-alg daemon --config /opt/alg/ike-esp-alg.uci
#            (+ the words in /opt/alg/ike-esp-alg.args, from ALG_ARGS)
#            stdout+stderr -> $LAB_RUN/alg.log
#   ready    `ip netns exec r /opt/alg/ike-esp-alg show counters --json` exits 0
#   status   the same command; its output is printed into the console for people
#   eBPF     /opt/alg/esp_fastpath.o (from ALG_BPF) for esp_offload 1; a bpf filesystem is
#            mounted at /run/alg-bpffs for its pinned map (`ip netns exec` hides /sys/fs/bpf)
# The daemon installs its own nftables rules (queues, sessions) in the router; the lab only
# provides fw4's table and its own counting/guard table.

ALG_BIN=/opt/alg/ike-esp-alg
ALG_CONF=/opt/alg/ike-esp-alg.uci
ALG_ARGS_FILE=/opt/alg/ike-esp-alg.args
ALG_READY_TIMEOUT=${ALG_READY_TIMEOUT:-30}
ALG_BPF=/opt/alg/esp_fastpath.o
ALG_BPFFS=/run/alg-bpffs
# With the fast path's object present, alg_start does what ike-esp-alg-fastpath's
# /etc/sysctl.d/12-ike-esp-alg-bpf-jit.conf does at a router's boot: the BPF JIT on
# (Debian's MIPS kernel boots with it off). bench-offload sets 0 to choose for itself.
ALG_PACKAGE_SYSCTL=1

alg_present() { [ -x "$ALG_BIN" ]; }

# alg_require: the daemon scenarios cannot run without the daemon; say so loudly.
alg_require() {
    if alg_present; then
        return 0
    fi
    result daemon-present FAIL "no daemon binary at $ALG_BIN; build it and run lab/run.sh with ALG_BIN=path/to/ike-esp-alg"
    return 1
}

alg_show() { nsx r "$ALG_BIN" show counters --json; }

alg_start() {
    if [ ! -f "$ALG_CONF" ]; then
        result daemon-start FAIL "no config at $ALG_CONF"
        return 1
    fi
    _t0=$(now)
    if [ -f "$ALG_BPF" ] && ! grep -q " $ALG_BPFFS bpf " /proc/mounts; then
        mkdir -p "$ALG_BPFFS" && mount -t bpf bpf "$ALG_BPFFS"
    fi
    if [ -f "$ALG_BPF" ] && [ "$ALG_PACKAGE_SYSCTL" = 1 ] && [ -f /proc/sys/net/core/bpf_jit_enable ]; then
        { echo 1 >/proc/sys/net/core/bpf_jit_enable; } 2>/dev/null
    fi
    _args=
    [ -f "$ALG_ARGS_FILE" ] && _args=$(cat "$ALG_ARGS_FILE")
    # shellcheck disable=SC2086 # the extra arguments are words
    spawn alg r "$LAB_RUN/alg.log" "$ALG_BIN" daemon --config "$ALG_CONF" $_args
    if ! wait_for "$ALG_READY_TIMEOUT" _alg_ready; then
        if alg_alive; then
            result daemon-start FAIL "'show counters --json' did not answer within ${ALG_READY_TIMEOUT} s; log: $(tail -n 3 "$LAB_RUN/alg.log" | tr '\n' ' ')"
        else
            result daemon-start FAIL "the daemon exited; log: $(tail -n 5 "$LAB_RUN/alg.log" | tr '\n' ' ')"
        fi
        return 1
    fi
    if ! alg_alive; then
        result daemon-start FAIL "the daemon exited; log: $(tail -n 5 "$LAB_RUN/alg.log" | tr '\n' ' ')"
        return 1
    fi
    say "daemon up (pid $(pid_of alg)) in $(elapsed "$_t0") s"
    return 0
}

# Ready when the status command answers; a daemon that died is "ready" too, so that
# alg_start stops waiting at once and reports it.
_alg_ready() { alg_show >/dev/null 2>&1 || ! alg_alive; }

alg_alive() {  # running, and not a zombie waiting to be reaped
    _p=$(pid_of alg)
    [ -n "$_p" ] && [ -r "/proc/$_p/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$_p/stat" 2>/dev/null
}

alg_kill9() {
    _p=$(pid_of alg)
    [ -n "$_p" ] && kill -9 "$_p" 2>/dev/null
    wait "$_p" 2>/dev/null
    PID_alg=
}

alg_print_status() {
    alg_present || return 0
    echo "--- ike-esp-alg show state / gates / sessions / bindings"
    for _part in state gates sessions bindings; do
        nsx r "$ALG_BIN" show "$_part" 2>&1 | head -n 20
    done
    echo "--- ike-esp-alg show counters --json"
    alg_show 2>&1 | head -n 60
}

# What a daemon left in /run (control socket, state file) goes with the scenario, so the
# next scenario's daemon starts clean. Not called between kill -9 and restart.
alg_forget() { rm -rf /run/ike-esp-alg*; }

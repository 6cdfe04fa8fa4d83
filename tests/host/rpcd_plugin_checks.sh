# shellcheck shell=bash
# The rpcd exec plugin (files/usr/libexec/rpcd/ike-esp-alg) against the running daemon.
# Sourced by daemon_netns.sh once both clients have learned their SAs (4 sessions, 2
# bindings): runs the read-only checks there and then, and defines rpcd_clear_checks,
# which daemon_netns.sh calls at the last point a daemon holds learned sessions (a real
# clear would break the checks in between, which count sessions and bindings).
# rpcd is not on this host: the plugin is run as rpcd runs it, `PLUGIN list` and
# `PLUGIN call METHOD` with the arguments as JSON on standard input, and every answer is
# read with python3's json module. Uses daemon_netns.sh's check, show, $R, $bin, $work.
# shellcheck disable=SC2154  # R, bin, work and here are daemon_netns.sh's

rpcd_plugin=$here/../../files/usr/libexec/rpcd/ike-esp-alg
rpcd_methods='{"status","state","gates","sessions","bindings","counters","clear"}'
rpcd_spis='{"0xa0000001","0xa0000002","0xb0000001","0xb0000002"}'
rpcd_clients='{"192.168.1.10","192.168.1.11"}'

# METHOD [ARGUMENTS]: the plugin's answer (ARGUMENTS default to {}, as rpcd sends for
# none), run in the router's namespace the way rpcd execs it: directly, by its #!/bin/sh.
# The exit status (1 for an error object) is ignored, as rpcd ignores it.
rpcd_call() {
    printf '%s' "${2:-"{}"}" | ip netns exec "$R" env IKE_ESP_ALG_BIN="$bin" IKE_ESP_ALG_CONTROL="${rpcd_control:-$work/sock}" \
        "$rpcd_plugin" call "$1" || true
}
# FILE PYTHON-EXPRESSION: FILE holds exactly one JSON value, d, and the expression holds.
rpcd_json() {
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}
rpcd_spi_count() { show sessions --json | grep -o '"spi"' | wc -l; }
rpcd_binding_count() { show bindings --json | grep -o '"client"' | wc -l; }

"$rpcd_plugin" list > "$work/rpcd.list"
check "rpcd plugin: list is a JSON object of every method and its arguments" \
    rpcd_json "$work/rpcd.list" "set(d) == $rpcd_methods and d['clear'] == {'client': 'str', 'all': True} and all(d[m] == {} for m in d if m != 'clear')"
rpcd_call status > "$work/rpcd.status"
check "rpcd plugin: status is the daemon's version 1 document with both clients' 4 sessions" \
    rpcd_json "$work/rpcd.status" "d['version'] == 1 and {'counters', 'datapath', 'tables', 'ike_sas', 'gates', 'bindings'} <= set(d) \
        and {s['spi'] for s in d['sessions']} == $rpcd_spis and {s['client'] for s in d['sessions']} == $rpcd_clients"
rpcd_call state > "$work/rpcd.state"
check "rpcd plugin: state lists both clients' IKE SAs" \
    rpcd_json "$work/rpcd.state" "d['version'] == 1 and set(d) == {'version', 'ike_sas'} and {s['client'] for s in d['ike_sas']} == $rpcd_clients"
rpcd_call sessions > "$work/rpcd.sessions"
check "rpcd plugin: sessions lists both clients" \
    rpcd_json "$work/rpcd.sessions" "set(d) == {'version', 'sessions'} and {s['client'] for s in d['sessions']} == $rpcd_clients and len(d['sessions']) == 4"
rpcd_call gates > "$work/rpcd.gates"
check "rpcd plugin: gates is a list" rpcd_json "$work/rpcd.gates" "set(d) == {'version', 'gates'} and isinstance(d['gates'], list)"
rpcd_call bindings > "$work/rpcd.bindings"
check "rpcd plugin: bindings lists both clients" \
    rpcd_json "$work/rpcd.bindings" "set(d) == {'version', 'bindings'} and {b['client'] for b in d['bindings']} == $rpcd_clients"
rpcd_call counters > "$work/rpcd.counters"
check "rpcd plugin: counters has the engine's and the datapath's counters" \
    rpcd_json "$work/rpcd.counters" "set(d) == {'version', 'counters', 'datapath', 'fast_path', 'tables'} and d['counters']['phase2_allowed'] >= 2 and d['tables']['sessions'] == 4 and d['fast_path']['active'] == 'nft'"
rpcd_call nosuch > "$work/rpcd.nosuch"
check "rpcd plugin: an unknown method is a JSON error" \
    rpcd_json "$work/rpcd.nosuch" "set(d) == {'error'} and d['error'].startswith(\"unknown method 'nosuch'\")"
rpcd_call clear > "$work/rpcd.clear-none"
rpcd_call clear '{"all":false}' > "$work/rpcd.clear-false"
rpcd_nothing_cleared() {
    rpcd_json "$work/rpcd.clear-none" "set(d) == {'error'} and d['error'].startswith('nothing cleared')" &&
        rpcd_json "$work/rpcd.clear-false" "set(d) == {'error'} and d['error'].startswith('nothing cleared')" &&
        [ "$(rpcd_spi_count)-$(rpcd_binding_count)" = 4-2 ]
}
check "rpcd plugin: clear without client or all is an error and clears nothing" rpcd_nothing_cleared
rpcd_call clear '{"client":"1.2.3"}' > "$work/rpcd.clear-bad"
rpcd_call clear '{"client":"192.168.1.010","ubus_rpc_session":"0123"}' > "$work/rpcd.clear-zero"
rpcd_malformed_refused() {
    rpcd_json "$work/rpcd.clear-bad" "d == {'error': \"'1.2.3' is not an IPv4 address\", 'client': '1.2.3'}" &&
        rpcd_json "$work/rpcd.clear-zero" "d == {'error': \"'192.168.1.010' is not an IPv4 address\", 'client': '192.168.1.010'}" &&
        [ "$(rpcd_spi_count)-$(rpcd_binding_count)" = 4-2 ]
}
check "rpcd plugin: clear of a malformed address is refused before the daemon" rpcd_malformed_refused
# uhttpd-mod-ubus adds ubus_rpc_session to every call's arguments; the plugin skips it.
rpcd_call clear '{"ubus_rpc_session":"0123","client":"192.168.1.99"}' > "$work/rpcd.clear-nobody"
rpcd_nobody_cleared() {
    rpcd_json "$work/rpcd.clear-nobody" "d == {'cleared': 0, 'client': '192.168.1.99'}" &&
        [ "$(rpcd_spi_count)-$(rpcd_binding_count)" = 4-2 ]
}
check "rpcd plugin: clear of a client with no state answers cleared 0 and leaves the others" rpcd_nobody_cleared
rpcd_control=$work/no-such.sock rpcd_call status > "$work/rpcd.stopped"
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' "$work/stale.sock"
rpcd_control=$work/stale.sock rpcd_call counters > "$work/rpcd.refused"
rpcd_not_running() {
    rpcd_json "$work/rpcd.stopped" "d == {'error': 'ike-esp-alg is not running (no control socket at $work/no-such.sock)', 'running': False}" &&
        rpcd_json "$work/rpcd.refused" "d == {'error': 'ike-esp-alg is not running (connection refused at $work/stale.sock)', 'running': False}"
}
check "rpcd plugin: no daemon (no socket, or a stale one) is a JSON error with running false" rpcd_not_running
# rpcd may run plugins with a minimal environment: no PATH.
ip netns exec "$R" env -i IKE_ESP_ALG_BIN="$bin" IKE_ESP_ALG_CONTROL="$work/sock" "$rpcd_plugin" call sessions </dev/null > "$work/rpcd.noenv"
check "rpcd plugin: answers with an empty environment" rpcd_json "$work/rpcd.noenv" "len(d['sessions']) == 4"
# OpenWrt's shell and tools are busybox's: run the plugin with busybox applets only (sh,
# awk, sed, tr, cat) on PATH. The runs above were under this host's /bin/sh (dash).
if command -v busybox >/dev/null; then
    mkdir -p "$work/busybox"
    for applet in sh awk sed tr cat; do ln -sf "$(command -v busybox)" "$work/busybox/$applet"; done
    # ARGUMENTS, then the plugin's command line.
    rpcd_busybox() {
        local args=$1; shift
        printf '%s' "$args" | ip netns exec "$R" env -i PATH="$work/busybox" IKE_ESP_ALG_BIN="$bin" IKE_ESP_ALG_CONTROL="$work/sock" \
            "$work/busybox/sh" "$rpcd_plugin" "$@" || true
    }
    rpcd_busybox "" list > "$work/rpcd.bb-list"
    rpcd_busybox "{}" call status > "$work/rpcd.bb-status"
    rpcd_busybox '{ "client" : "192.168.1.256" }' call clear > "$work/rpcd.bb-bad"
    rpcd_busybox '{"ubus_rpc_session":"0123","client":"192.168.1.99"}' call clear > "$work/rpcd.bb-nobody"
    rpcd_under_busybox() {
        rpcd_json "$work/rpcd.bb-list" "set(d) == $rpcd_methods" &&
            rpcd_json "$work/rpcd.bb-status" "d['version'] == 1 and {s['spi'] for s in d['sessions']} == $rpcd_spis" &&
            rpcd_json "$work/rpcd.bb-bad" "d == {'error': \"'192.168.1.256' is not an IPv4 address\", 'client': '192.168.1.256'}" &&
            rpcd_json "$work/rpcd.bb-nobody" "d == {'cleared': 0, 'client': '192.168.1.99'}"
    }
    check "rpcd plugin under busybox ash and applets: list, status, clear" rpcd_under_busybox
else
    echo "skip: rpcd plugin under busybox (busybox is not installed: apt-get install busybox)"
fi

# A real clear, at the end of the run with this daemon: one client, then all.
rpcd_client_cleared() {
    rpcd_json "$work/rpcd.clear-client" "d == {'cleared': 1, 'client': '192.168.1.10'}" &&
        rpcd_json "$work/rpcd.after-client" "{s['client'] for s in d['sessions']} == {'192.168.1.11'} and len(d['sessions']) == 2" &&
        rpcd_json "$work/rpcd.after-client-bindings" "[b['client'] for b in d['bindings']] == ['192.168.1.11']"
}
rpcd_all_cleared() {
    rpcd_json "$work/rpcd.clear-all" "d == {'cleared': 1, 'all': True}" &&
        rpcd_json "$work/rpcd.after-all" "d['sessions'] == [] and d['bindings'] == [] and d['ike_sas'] == []"
}
rpcd_clear_checks() {
    rpcd_call clear '{"client":"192.168.1.10"}' > "$work/rpcd.clear-client"
    rpcd_call sessions > "$work/rpcd.after-client"
    rpcd_call bindings > "$work/rpcd.after-client-bindings"
    check "rpcd plugin: clear of one client removes its sessions and binding only" rpcd_client_cleared
    rpcd_call clear '{"all":true}' > "$work/rpcd.clear-all"
    rpcd_call status > "$work/rpcd.after-all"
    check "rpcd plugin: clear all removes every session, binding and IKE SA" rpcd_all_cleared
}

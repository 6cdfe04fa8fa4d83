'use strict';
'require baseclass';

/*
 * What the IKE/ESP ALG's LuCI views show, as pure functions of the daemon's versioned
 * status JSON (`ike-esp-alg show all --json`, served by the rpcd plugin as
 * `ubus call ike-esp-alg status`) and of the values in /etc/config/ike-esp-alg.
 * No DOM and no RPC here: tests/luci runs this file under node.
 *
 * Validation gives the messages `ike-esp-alg check` gives, word for word (checked
 * against tests/golden/luci/validation.expected, which the real configuration code
 * writes), so the form and the daemon never disagree about a value.
 */

/* Ranges of the numeric options (SPEC §4; src/engine/config.rs, src/config/model/knobs.rs). */
var RANGES = {
	state_timeout: { min: 180, max: 86400, unit: 'seconds', dflt: 14400 },
	esp_gate_timeout: { min: 2, max: 30, unit: 'seconds', dflt: 5 },
	esp_gate_settle: { min: 0, max: 30, unit: 'seconds', dflt: 1 },
	esp_session_timeout: { min: 60, max: 2400, unit: 'seconds', dflt: 1800 },
	binding_linger: { min: 0, max: 86400, unit: 'seconds', dflt: 300 },
	ike_port: { min: 1, max: 65535, dflt: 500 },
	natt_port: { min: 1, max: 65535, dflt: 4500 },
	queue_num: { min: 0, max: 65535, dflt: 500 }
};

var BOOLEANS = [ 'enabled', 'fail_open', 'esp_offload', 'address_persistent', 'proxy_arp' ];

/*
 * Options whose check also reads another option of the same section: IKE and NAT-T may
 * not share a port (`check` blames natt_port when it is written, ike_port otherwise).
 */
var DEPENDS = { ike_port: [ 'natt_port' ], natt_port: [ 'ike_port' ] };

/* Addresses the kernel would not send from (0.0.0.0/8, 127.0.0.0/8, 224.0.0.0 and up). */
var NOT_A_SOURCE = [ [ 0x00000000, 0x00ffffff ], [ 0x7f000000, 0x7fffffff ], [ 0xe0000000, 0xffffffff ] ];

/* The counters an operator watches (SPEC §5), by where they are in the JSON. */
var KEY_COUNTERS = [
	[ _('Phase-2 exchanges allowed'), [ 'counters', 'phase2_allowed' ] ],
	[ _('Phase-2 dropped: pair busy'), [ 'counters', 'phase2_dropped_pair_busy' ] ],
	[ _('Phase-2 dropped: gate busy'), [ 'counters', 'phase2_dropped_gate_busy' ] ],
	[ _('Phase-2 dropped: gate reserved'), [ 'counters', 'phase2_dropped_gate_reserved' ] ],
	[ _('Gates collapsed'), [ 'counters', 'gates_collapsed' ] ],
	[ _('Gates expired'), [ 'counters', 'gates_expired' ] ],
	[ _('Gates released early'), [ 'counters', 'gates_released_early' ] ],
	[ _('Inbound ESP dropped, no gate'), [ 'counters', 'inbound_esp_dropped_no_gate' ] ],
	[ _('Queue overflow'), [ 'datapath', 'queue_overflow' ] ],
	[ _('Queue overruns'), [ 'datapath', 'queue_overruns' ] ],
	[ _('Table re-installs'), [ 'datapath', 'table_reinstalls' ] ],
	[ _('Conntrack entries removed after a WAN change'), [ 'datapath', 'egress_conntrack_removed' ] ],
	[ _('SAs on the eBPF fast path'), [ 'fast_path', 'offloaded_sas' ] ]
];

/*
 * The value as `check` quotes it in "is not an IPv4 ..." messages (Rust's
 * `str::escape_debug`, for the characters a form field can hold: backslash, quotes and
 * control characters are escaped).
 */
function escaped(v) {
	return v.replace(/[\\'"\u0000-\u001f\u007f]/g, function(c) {
		var named = { '\0': '\\0', '\\': '\\\\', "'": "\\'", '"': '\\"', '\t': '\\t', '\r': '\\r', '\n': '\\n' };
		return named[c] || '\\u{' + c.charCodeAt(0).toString(16) + '}';
	});
}

function range_text(r) {
	return r.min + '-' + r.max + (r.unit ? ' ' + r.unit : '');
}

function octets(text) {
	var parts = String(text).split('.');
	if (parts.length != 4)
		return null;
	var out = [];
	for (var i = 0; i < 4; i++) {
		/* As Rust's Ipv4Addr reads them: decimal, no sign, no leading zero. */
		if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i]) || +parts[i] > 255)
			return null;
		out.push(+parts[i]);
	}
	return out;
}

function address_number(text) {
	var o = octets(text);
	return o ? ((o[0] * 256 + o[1]) * 256 + o[2]) * 256 + o[3] : null;
}

/* Prefix length as `check` reads it: one or two decimal digits, at most 32. */
function prefix_length(text) {
	return (/^[0-9]{1,2}$/.test(text) && +text <= 32) ? +text : null;
}

function is_prefix(text) {
	return prefix_range(text) != null;
}

/* The [first, last] addresses (as numbers) of `a.b.c.d/n` or `a.b.c.d`, or null. */
function prefix_range(text) {
	var slash = String(text).split('/');
	var len = (slash.length == 1) ? 32 : (slash.length == 2) ? prefix_length(slash[1]) : null;
	var address = address_number(slash[0]);
	if (len == null || address == null)
		return null;
	var size = Math.pow(2, 32 - len);
	var first = address - (address % size);
	return [ first, first + size - 1 ];
}

function is_unicast(first, last) {
	return NOT_A_SOURCE.every(function(r) { return last < r[0] || r[1] < first });
}

/* The port `option` ends up with: `value` if it is a valid port, else the default (as `check` keeps it). */
function port_of(option, value) {
	var r = RANGES[option], v = (value == null) ? '' : String(value);
	return (/^[0-9]+$/.test(v) && +v >= r.min && +v <= r.max) ? +v : r.dflt;
}

/*
 * The message `check` gives for `value` of option `option` in a section of type
 * `section_type`, or null when the value is accepted. An empty value means "not set":
 * the option takes its default. `others` holds the values of the options in
 * DEPENDS[option], as the form has them (missing or empty: not set).
 */
function validate(section_type, option, value, others) {
	var v = (value == null) ? '' : String(value);
	if (v === '')
		return null;
	if (BOOLEANS.indexOf(option) >= 0)
		return (v === '0' || v === '1') ? null : "'" + v + "' is not a boolean (allowed 0 or 1)";
	if (RANGES.hasOwnProperty(option)) {
		var r = RANGES[option];
		if (!/^[0-9]+$/.test(v))
			return "'" + v + "' is not a number (allowed " + range_text(r) + ')';
		/* As written: `check` says "031 is out of range", leading zeros and all. */
		var n = +v;
		if (n < r.min || n > r.max)
			return v + ' is out of range (allowed ' + range_text(r) + ')';
		if (section_type == 'alg' && DEPENDS.hasOwnProperty(option))
			return same_ports(option, v, others || {});
		return null;
	}
	if (section_type == 'pool' && option == 'address') {
		var dash = v.split('-'), range;
		if (dash.length == 2) {
			var first = address_number(dash[0]), last = address_number(dash[1]);
			if (first == null || last == null)
				return "'" + escaped(v) + "' is not an IPv4 pool entry (allowed A-B, a.b.c.d/n or a single address)";
			if (first > last)
				return "'" + v + "' ends before it starts (allowed A-B with A not above B)";
			range = [ first, last ];
		}
		else {
			range = prefix_range(v);
			if (range == null)
				return "'" + escaped(v) + "' is not an IPv4 pool entry (allowed A-B, a.b.c.d/n or a single address)";
		}
		return is_unicast(range[0], range[1]) ? null
			: "'" + v + "' holds addresses that cannot be a NAT address (allowed unicast addresses outside 0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0/3)";
	}
	if (option == 'source_address' || option == 'destination_address')
		return is_prefix(v) ? null : "'" + escaped(v) + "' is not an IPv4 prefix (allowed a.b.c.d/n or a single address)";
	return null;
}

/* ike_port and natt_port may not be the same port; the message goes to natt_port when it is written. */
function same_ports(option, value, others) {
	var ike = (option == 'ike_port') ? value : others.ike_port;
	var natt = (option == 'natt_port') ? value : others.natt_port;
	var natt_written = natt != null && String(natt) !== '';
	var blamed = natt_written ? 'natt_port' : 'ike_port';
	if (option != blamed || port_of('ike_port', ike) != port_of('natt_port', natt))
		return null;
	var other = (blamed == 'natt_port') ? 'ike_port' : 'natt_port';
	return port_of(option, value) + ' is also ' + other + ' (allowed ' + range_text(RANGES[option]) + ', other than ' + other + ')';
}

function seconds_text(s) {
	s = Math.max(0, Math.floor(+s || 0));
	if (s < 60)
		return s + 's';
	if (s < 3600)
		return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
	return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
}

function bytes_text(n) {
	n = +n || 0;
	var units = [ 'B', 'KiB', 'MiB', 'GiB', 'TiB' ];
	var i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return (i == 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
}

function list_of(status, name) {
	return (status && Array.isArray(status[name])) ? status[name] : [];
}

/*
 * Whether the ALG runs, and why not: from /etc/config/ike-esp-alg's `enabled` and the
 * plugin's answer (`{"error": ..., "running": false}` when the daemon is not running).
 */
function alg_state(status, enabled) {
	var on = (String(enabled) == '1');
	if (!on)
		return { running: false, enabled: false, reason: 'disabled' };
	if (!status || status.error != null || status.version == null) {
		var why = (status && status.error) ? String(status.error) : 'no answer from the daemon';
		return { running: false, enabled: true, reason: (status && status.running === false) ? 'not-running' : 'error', detail: why };
	}
	if (status.version != 1)
		return { running: true, enabled: true, reason: 'unknown-version', detail: String(status.version) };
	return { running: true, enabled: true, reason: 'running' };
}

/* IKE ALG state: client, NAT address:port, server:port, IKE version, initiator SPI, idle, expires. */
function ike_rows(status) {
	return list_of(status, 'ike_sas').map(function(s) {
		return [ s.client, s.nat + ':' + s.nat_port, s.server + ':' + s.server_port, s.version,
			s.initiator_spi, seconds_text(s.idle_s), seconds_text(s.expires_in_s) ];
	});
}

/* Open gates: client, NAT address, server, direction, state (with the SPI once hit), exchange, seconds left. */
function gate_rows(status) {
	return list_of(status, 'gates').map(function(g) {
		var state = (g.state == 'hit' && g.spi) ? 'hit ' + g.spi : g.state;
		return [ g.client, g.nat, g.server, g.direction, state + (g.contended ? ' (contended)' : ''),
			g.exchange + ' ' + g.message_id, ((+g.expires_in_ms || 0) / 1000).toFixed(1) + 's' ];
	});
}

/*
 * ESP sessions as `show sessions` prints them: one row per client, server and NAT address
 * with SPI in beside SPI out; several SAs per direction (a rekey) give several rows, the
 * newest paired first (by `age_s`; by idle time from a daemon too old to report it). Columns: client, NAT, server, SPI in, SPI out,
 * packets, bytes, idle; the last is the client (for "clear client").
 */
function session_rows(status) {
	var pairs = {}, order = [];
	list_of(status, 'sessions').forEach(function(s) {
		var key = s.client + ' ' + s.server + ' ' + s.nat;
		if (!pairs[key]) {
			pairs[key] = { client: s.client, server: s.server, nat: s.nat, 'in': [], out: [] };
			order.push(key);
		}
		pairs[key][s.direction == 'in' ? 'in' : 'out'].push(s);
	});
	var by_age = function(a, b) {
		return (a.age_s != null && b.age_s != null) ? a.age_s - b.age_s : (a.idle_s || 0) - (b.idle_s || 0);
	};
	var rows = [];
	order.forEach(function(key) {
		var p = pairs[key];
		p['in'].sort(by_age);
		p.out.sort(by_age);
		for (var i = 0; i < Math.max(p['in'].length, p.out.length); i++) {
			var a = p['in'][i], b = p.out[i];
			var sum = function(f) { return (a ? (+a[f] || 0) : 0) + (b ? (+b[f] || 0) : 0) };
			var idle = Math.min(a ? a.idle_s : Infinity, b ? b.idle_s : Infinity);
			rows.push([ p.client, p.nat, p.server, a ? a.spi : '-', b ? b.spi : '-',
				String(sum('packets')), bytes_text(sum('bytes')), seconds_text(idle), p.client ]);
		}
	});
	return rows;
}

/* Persistent NAT bindings: client, NAT address, pool (or interface), IKE SAs, flows, sessions. */
function binding_rows(status) {
	return list_of(status, 'bindings').map(function(b) {
		return [ b.client, b.nat, b.pool || 'interface', String(b.ike_sas), String(b.flows), String(b.sessions) ];
	});
}

/* [label, value] of the counters that matter; a counter the daemon does not report is 0. */
function key_counters(status) {
	return KEY_COUNTERS.map(function(c) {
		var group = status && status[c[1][0]];
		var value = (group && group[c[1][1]] != null) ? group[c[1][1]] : 0;
		return [ c[0], String(value) ];
	});
}

/* Which datapath forwards learned SAs (show counters' "Fast path" line); null before the
 * daemon answered. */
function fast_path_text(status) {
	var f = status && status.fast_path;
	if (!f)
		return null;
	if (f.active == 'ebpf') {
		var on = (f.devices && f.devices.length) ? f.devices.join(', ') : _('no device yet');
		if (f.execution == 'jit')
			return _('Fast path: tc eBPF, JIT-compiled, on %s, %d SAs offloaded; SAs not yet promoted take the nftables table.')
				.format(on, f.offloaded_sas || 0);
		if (f.execution == 'interpreter')
			return _("Fast path: tc eBPF, interpreted (the kernel's BPF JIT is off), on %s, %d SAs offloaded; SAs not yet promoted take the nftables table.")
				.format(on, f.offloaded_sas || 0);
		return _('Fast path: tc eBPF on %s, %d SAs offloaded; SAs not yet promoted take the nftables table.')
			.format(on, f.offloaded_sas || 0);
	}
	if (f.fallback)
		return _('Fast path: the nftables table. ESP offload is on, but %s.').format(f.fallback);
	return _('Fast path: the nftables table.');
}

return baseclass.extend({
	RANGES: RANGES,
	DEPENDS: DEPENDS,
	KEY_COUNTERS: KEY_COUNTERS,
	validate: validate,
	algState: alg_state,
	ikeRows: ike_rows,
	gateRows: gate_rows,
	sessionRows: session_rows,
	bindingRows: binding_rows,
	keyCounters: key_counters,
	fastPathText: fast_path_text,
	secondsText: seconds_text,
	bytesText: bytes_text
});

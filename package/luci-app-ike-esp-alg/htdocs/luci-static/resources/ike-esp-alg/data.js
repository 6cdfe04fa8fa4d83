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
	esp_session_timeout: { min: 60, max: 2400, unit: 'seconds', dflt: 1800 },
	binding_linger: { min: 0, max: 86400, unit: 'seconds', dflt: 300 },
	ike_port: { min: 1, max: 65535, dflt: 500 },
	natt_port: { min: 1, max: 65535, dflt: 4500 },
	queue_num: { min: 0, max: 65535, dflt: 500 }
};

var BOOLEANS = [ 'enabled', 'fail_open', 'address_persistent', 'proxy_arp' ];

/* The counters an operator watches (SPEC §5), by where they are in the JSON. */
var KEY_COUNTERS = [
	[ _('Phase-2 exchanges allowed'), [ 'counters', 'phase2_allowed' ] ],
	[ _('Phase-2 dropped: pair busy'), [ 'counters', 'phase2_dropped_pair_busy' ] ],
	[ _('Phase-2 dropped: gate busy'), [ 'counters', 'phase2_dropped_gate_busy' ] ],
	[ _('Phase-2 dropped: gate reserved'), [ 'counters', 'phase2_dropped_gate_reserved' ] ],
	[ _('Gates collapsed'), [ 'counters', 'gates_collapsed' ] ],
	[ _('Gates expired'), [ 'counters', 'gates_expired' ] ],
	[ _('Inbound ESP dropped, no gate'), [ 'counters', 'inbound_esp_dropped_no_gate' ] ],
	[ _('Queue overflow'), [ 'datapath', 'queue_overflow' ] ],
	[ _('Queue overruns'), [ 'datapath', 'queue_overruns' ] ],
	[ _('Table re-installs'), [ 'datapath', 'table_reinstalls' ] ]
];

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

function is_prefix(text) {
	var slash = String(text).split('/');
	if (slash.length == 1)
		return octets(slash[0]) != null;
	return slash.length == 2 && octets(slash[0]) != null &&
		/^(0|[1-9][0-9]?)$/.test(slash[1]) && +slash[1] <= 32;
}

/*
 * The message `check` gives for `value` of option `option` in a section of type
 * `section_type`, or null when the value is accepted. An empty value means "not set":
 * the option takes its default.
 */
function validate(section_type, option, value) {
	var v = (value == null) ? '' : String(value);
	if (v === '')
		return null;
	if (BOOLEANS.indexOf(option) >= 0)
		return (v === '0' || v === '1') ? null : "'" + v + "' is not a boolean (allowed 0 or 1)";
	if (RANGES.hasOwnProperty(option)) {
		var r = RANGES[option];
		if (!/^[0-9]+$/.test(v))
			return "'" + v + "' is not a number (allowed " + range_text(r) + ')';
		var n = +v;
		if (n < r.min || n > r.max)
			return v.replace(/^0+(?=.)/, '') + ' is out of range (allowed ' + range_text(r) + ')';
		return null;
	}
	if (section_type == 'pool' && option == 'address') {
		var dash = v.split('-');
		if (dash.length == 2 && octets(dash[0]) && octets(dash[1])) {
			return (address_number(dash[0]) <= address_number(dash[1])) ? null
				: "'" + v + "' ends before it starts (allowed A-B with A not above B)";
		}
		return (dash.length == 1 && is_prefix(v)) ? null
			: "'" + v + "' is not an IPv4 pool entry (allowed A-B, a.b.c.d/n or a single address)";
	}
	if (option == 'source_address' || option == 'destination_address')
		return is_prefix(v) ? null : "'" + v + "' is not an IPv4 prefix (allowed a.b.c.d/n or a single address)";
	return null;
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

return baseclass.extend({
	RANGES: RANGES,
	KEY_COUNTERS: KEY_COUNTERS,
	validate: validate,
	algState: alg_state,
	ikeRows: ike_rows,
	gateRows: gate_rows,
	sessionRows: session_rows,
	bindingRows: binding_rows,
	keyCounters: key_counters,
	secondsText: seconds_text,
	bytesText: bytes_text
});

// The two views themselves, not only data.js: status.js's update() and render() and
// settings.js's render(), run against recording stand-ins for the LuCI objects they use
// (E, dom, ui, uci, rpc, poll, form, tools.widgets and the global cbi_update_table), all
// defined below. Like tests/luci/luci_stand_in.js these are NOT LuCI: they record what the
// views ask for (tables and their rows, notices, form options and validators) so the test
// can check it. Nothing is rendered in a browser; LuCI's runtime is not available here.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { load } = require('./luci_stand_in');

const ROOT = path.join(__dirname, '../..');
const golden = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/golden', name), 'utf8'));
const data = load('ike-esp-alg/data.js');

// E(tag, [attrs], [children]) as LuCI's E takes it: attrs may be left out.
function E(tag, attrs, children) {
	const plain = attrs != null && typeof attrs === 'object' && !Array.isArray(attrs) && !attrs.tag;
	return plain ? { tag, attrs, children } : { tag, attrs: {}, children: attrs };
}

// The text inside a recorded element tree.
function text(node) {
	if (node == null) return '';
	if (typeof node !== 'object') return String(node);
	if (Array.isArray(node)) return node.map(text).join(' ');
	return text(node.children);
}

// Stand-ins for the status view: `answers` are what the plugin's methods answer.
function statusStandIns(answers, enabled) {
	const calls = [], notices = [], polls = [];
	const L = {
		bind: (fn, self, ...a) => fn.bind(self, ...a),
		resolveDefault: (p, d) => Promise.resolve(p).catch(() => d)
	};
	const provide = {
		view: { extend: (props) => props },
		rpc: {
			declare: (spec) => (...args) => {
				calls.push([spec.method, ...args]);
				return Promise.resolve(answers[spec.method]);
			}
		},
		poll: { add: (fn, interval) => polls.push([fn, interval]) },
		ui: {
			addNotification: (title, body, kind) => notices.push([kind, text(body)]),
			createHandlerFn: (ctx, name, ...args) => () => ctx[name](...args)
		},
		uci: {
			load: () => Promise.resolve(),
			get: (config, section, option) =>
				(config === 'ike-esp-alg' && section === 'ike_esp_nat' && option === 'enabled') ? enabled : undefined
		},
		dom: { content: (node, children) => { node.children = children; } },
		'ike-esp-alg.data': data
	};
	return { provide, globals: { L, E }, calls, notices, polls };
}

// cbi_update_table(table, rows, placeholder) is a global of LuCI's cbi.js.
globalThis.cbi_update_table = (table, rows, placeholder) => {
	table.rows = rows;
	table.placeholder = text(placeholder);
};

async function renderStatus(status, enabled) {
	const s = statusStandIns({ status, clear: { cleared: 1 } }, enabled);
	const view = load('view/ike-esp-alg/status.js', s.provide, s.globals);
	const results = await view.load();
	const page = view.render(results);
	return { ...s, view, page, nodes: view.nodes };
}

const TABLES = {
	ike: 'No IKE ALG state.',
	gates: 'No open gates.',
	sessions: 'No ESP sessions.',
	bindings: 'No persistent NAT bindings.'
};

test('daemon not running: the page says so, and every table is empty with its message', async () => {
	const down = { error: 'ike-esp-alg is not running (no control socket at /var/run/ike-esp-alg.sock)', running: false };
	const r = await renderStatus(down, '1');
	assert.match(text(r.nodes.state), /^Enabled, but the daemon is not running \(ike-esp-alg is not running \(no control socket/);
	for (const [name, message] of Object.entries(TABLES))
		assert.deepStrictEqual([r.nodes[name].rows, r.nodes[name].placeholder], [[], message], name);
	assert.deepStrictEqual(r.nodes.counters.rows.map((c) => c[1]).filter((v) => v !== '0'), []);
});

test('enabled 0: the page says the ALG is off and why, whatever the daemon answers', async () => {
	const r = await renderStatus(golden('status/empty.expected'), '0');
	assert.match(text(r.nodes.state), /^Disabled: option enabled is 0 in \/etc\/config\/ike-esp-alg\./);
	const unset = await renderStatus(golden('status/empty.expected'), undefined);
	assert.match(text(unset.nodes.state), /^Disabled:/, 'enabled is 0 when not set');
});

test('an empty engine: running, empty tables with their messages, counters all 0', async () => {
	const r = await renderStatus(golden('status/empty.expected'), '1');
	assert.strictEqual(text(r.nodes.state), 'Enabled and running. Fast path: the nftables table.');
	for (const [name, message] of Object.entries(TABLES))
		assert.deepStrictEqual([r.nodes[name].rows, r.nodes[name].placeholder], [[], message], name);
	assert.strictEqual(r.nodes.counters.rows.length, data.KEY_COUNTERS.length);
});

test('a busy engine: the tables hold the golden status, polled every 5 s', async () => {
	const status = golden('status/all.expected');
	const r = await renderStatus(status, '1');
	assert.deepStrictEqual(r.nodes.ike.rows, data.ikeRows(status));
	assert.strictEqual(r.nodes.ike.rows.length, 2);
	assert.deepStrictEqual(r.nodes.gates.rows.map((g) => [g[0], g[3], g[6]]), [['192.168.1.11', 'out', '3.5s'], ['192.168.1.11', 'in', '3.5s']]);
	assert.deepStrictEqual(r.nodes.bindings.rows.map((b) => b[0]), ['192.168.1.10', '192.168.1.11']);
	const session = r.nodes.sessions.rows[0];
	assert.deepStrictEqual(session.slice(0, 8), ['192.168.1.10', '203.0.113.20', '198.51.100.1', '0xa0000002', '0xa0000001', '4', '304 B', '31s']);
	assert.strictEqual(text(session[8]), 'Clear client');
	assert.strictEqual(Object.fromEntries(r.nodes.counters.rows)['Inbound ESP dropped, no gate'], '1');
	// The table headers line up with the rows (the sessions' last column is the button).
	for (const name of ['ike', 'gates', 'sessions', 'bindings', 'counters']) {
		const headers = r.nodes[name].children[0].children;
		for (const row of r.nodes[name].rows)
			assert.strictEqual(row.length, headers.length, name);
	}
	assert.deepStrictEqual(r.polls.map((p) => p[1]), [5]);
	r.calls.length = 0;
	await r.polls[0][0]();
	assert.deepStrictEqual(r.calls, [['status']]);
});

test('"Clear client" calls ubus clear with that client, says so and refreshes', async () => {
	const r = await renderStatus(golden('status/all.expected'), '1');
	r.calls.length = 0;
	await r.nodes.sessions.rows[0][8].attrs.click();
	assert.deepStrictEqual(r.calls, [['clear', '192.168.1.10'], ['status']]);
	assert.deepStrictEqual(r.notices, [['info', 'Cleared the ALG state of 192.168.1.10.']]);
});

// Stand-ins for form.js and tools.widgets: classes are names; sections and options record
// what the view declares. `formvalues[section_id][option]` is what the form holds.
function formStandIns(formvalues) {
	const maps = [];
	const cls = (name) => ({ name });
	const form = {
		Map: function(config, title, description) {
			this.config = config;
			this.sections = [];
			this.section = (kind, ...args) => {
				const type = kind.name === 'NamedSection' ? args[1] : args[0];
				const section = {
					kind: kind.name, type, name: kind.name === 'NamedSection' ? args[0] : null, options: [],
					option(kind, name, title, description) {
						const o = { kind: kind.name, name, title, section, values: [], value(k, label) { this.values.push(k); } };
						section.options.push(o);
						return o;
					},
					formvalue: (section_id, option) => (formvalues[section_id] || {})[option]
				};
				this.sections.push(section);
				return section;
			};
			this.render = () => Promise.resolve('rendered');
			maps.push(this);
		}
	};
	for (const name of ['NamedSection', 'TypedSection', 'Flag', 'Value', 'DynamicList', 'ListValue'])
		form[name] = cls(name);
	const sections = { pool: [{ '.name': 'pool1' }], rule_set: [{ '.name': 'lan_wan' }] };
	const provide = {
		view: { extend: (props) => props },
		form,
		uci: { load: () => Promise.resolve(), get: () => undefined, sections: (config, type) => sections[type] || [] },
		'tools.widgets': { ZoneSelect: cls('ZoneSelect') },
		'ike-esp-alg.data': data
	};
	const L = { bind: (fn, self, ...a) => fn.bind(self, ...a) };
	return { provide, globals: { L, E }, maps };
}

async function renderSettings(formvalues = {}) {
	const s = formStandIns(formvalues);
	const view = load('view/ike-esp-alg/settings.js', s.provide, s.globals);
	assert.strictEqual(await view.render(), 'rendered');
	assert.strictEqual(s.maps.length, 1);
	return s.maps[0];
}

const option = (map, type, name) => {
	const found = map.sections.filter((s) => s.type === type).flatMap((s) => s.options).filter((o) => o.name === name);
	assert.strictEqual(found.length, 1, `${type}.${name}`);
	return found[0];
};

test('settings: one form over /etc/config/ike-esp-alg with every option of every section type', async () => {
	const map = await renderSettings();
	assert.strictEqual(map.config, 'ike-esp-alg');
	const declared = map.sections.map((s) => [s.kind, s.type, s.name, s.options.map((o) => o.name)]);
	assert.deepStrictEqual(declared, [
		['NamedSection', 'alg', 'ike_esp_nat', ['enabled', 'state_timeout', 'esp_gate_timeout', 'esp_gate_settle', 'esp_session_timeout', 'ike_port', 'natt_port', 'binding_linger', 'queue_num', 'fail_open', 'esp_offload']],
		['NamedSection', 'nat', 'source', ['address_persistent']],
		['TypedSection', 'pool', null, ['address', 'proxy_arp']],
		['TypedSection', 'rule_set', null, ['from_zone', 'to_zone']],
		['TypedSection', 'rule', null, ['rule_set', 'source_address', 'destination_address', 'source_nat']]
	]);
	assert.strictEqual(option(map, 'rule_set', 'from_zone').kind, 'ZoneSelect');
	assert.strictEqual(option(map, 'rule_set', 'to_zone').kind, 'ZoneSelect');
	assert.deepStrictEqual(option(map, 'rule', 'source_nat').values, ['interface', 'pool1']);
	assert.deepStrictEqual(option(map, 'rule', 'rule_set').values, ['lan_wan']);
	for (const [type, name] of [['alg', 'enabled'], ['alg', 'fail_open'], ['alg', 'esp_offload'], ['nat', 'address_persistent'], ['pool', 'proxy_arp']])
		assert.strictEqual(option(map, type, name).kind, 'Flag', `${type}.${name}`);
});

test('settings: the section and option names are the ones check knows (golden luci/options.expected)', async () => {
	const map = await renderSettings();
	// `section option` per line, in the order of the declaration table (src/config/model/options.rs).
	const known = fs.readFileSync(path.join(ROOT, 'tests/golden/luci/options.expected'), 'utf8')
		.split('\n').filter(Boolean).map((line) => line.split(' '));
	for (const section of map.sections) {
		const names = known.filter(([type]) => type === section.type).map(([, name]) => name);
		assert.ok(names.length > 0, section.type);
		assert.deepStrictEqual(section.options.map((o) => o.name), names, section.type);
	}
});

test('settings: the validators the form runs give check\'s message for every golden value', async () => {
	const cases = golden('luci/validation.expected');
	let run = 0;
	for (const c of cases) {
		const section_id = c.section === 'alg' ? 'ike_esp_nat' : 'cfg01';
		const map = await renderSettings({ [section_id]: c.with || {} });
		const o = option(map, c.section, c.option);
		if (o.kind === 'Flag') {
			// A checkbox can only give 0 or 1, which check accepts.
			assert.ok(c.message === null || !['0', '1'].includes(c.value), `${c.option}=${c.value}`);
			continue;
		}
		assert.strictEqual(typeof o.validate, 'function', `${c.section}.${c.option} has no validator`);
		assert.strictEqual(o.validate.call(o, section_id, c.value), c.message === null ? true : c.message,
			`${c.section}.${c.option} = '${c.value}' with ${JSON.stringify(c.with)}`);
		run++;
	}
	assert.ok(run >= 60, `${run} validator runs`);
});

test('settings: placeholders and flag defaults are the defaults of files/etc/config/ike-esp-alg', async () => {
	const map = await renderSettings();
	const config = fs.readFileSync(path.join(ROOT, 'files/etc/config/ike-esp-alg'), 'utf8');
	const shipped = Object.fromEntries([...config.matchAll(/^\s*#?option (\w+) '([^']*)'/gm)].map((m) => [m[1], m[2]]));
	for (const name of ['state_timeout', 'esp_gate_timeout', 'esp_gate_settle', 'esp_session_timeout', 'ike_port', 'natt_port', 'binding_linger', 'queue_num'])
		assert.strictEqual(option(map, 'alg', name).placeholder, shipped[name], name);
	assert.strictEqual(option(map, 'alg', 'fail_open').default, shipped.fail_open);
	assert.strictEqual(option(map, 'alg', 'enabled').default, shipped.enabled);
	assert.strictEqual(option(map, 'nat', 'address_persistent').default, shipped.address_persistent);
	assert.strictEqual(option(map, 'pool', 'proxy_arp').default, '0');
});

test('plain JS files (tests, scripts) pass node --check', () => {
	const files = [
		...fs.readdirSync(__dirname).filter((f) => f.endsWith('.js')).map((f) => path.join(__dirname, f)),
		path.join(ROOT, 'scripts/luci-pot.js')
	];
	for (const file of files)
		execFileSync(process.execPath, ['--check', file]);
});

// The LuCI app's data handling (htdocs/.../ike-esp-alg/data.js), loaded unmodified
// through the named stand-in for LuCI's module loader, against the daemon's real status
// JSON (tests/golden/status/, written by tests/status_json.rs) and the messages of
// `ike-esp-alg check` (tests/golden/luci/validation.expected, by tests/luci_validation.rs).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { load } = require('./luci_stand_in');

const GOLDEN = path.join(__dirname, '../golden');
const golden = (name) => JSON.parse(fs.readFileSync(path.join(GOLDEN, name), 'utf8'));
const data = load('ike-esp-alg/data.js');

test('every value the settings view validates gets check\'s message, or none', () => {
	const cases = golden('luci/validation.expected');
	assert.ok(cases.length >= 60, `only ${cases.length} cases`);
	for (const c of cases)
		assert.strictEqual(data.validate(c.section, c.option, c.value, c.with), c.message, `${c.section}.${c.option} = '${c.value}' with ${JSON.stringify(c.with)}`);
});

test('ESP sessions pair SPI in and SPI out per client, as show sessions does', () => {
	const rows = data.sessionRows(golden('status/all.expected'));
	assert.deepStrictEqual(rows, [
		['192.168.1.10', '203.0.113.20', '198.51.100.1', '0xa0000002', '0xa0000001', '4', '304 B', '31s', '192.168.1.10']
	]);
});

test('a rekey gives one row per SA pair, the newest first, as show sessions pairs them', () => {
	const s = (direction, spi, idle_s, age_s) => ({ direction, client: '192.168.1.10', nat: '203.0.113.7', server: '198.51.100.1', spi, origin: 'gate', packets: 1, bytes: 2048, idle_s, age_s });
	// The old SAs still carry traffic (less idle) while the new ones start: age decides.
	const rows = data.sessionRows({ version: 1, sessions: [s('out', '0x1', 1, 3000), s('in', '0x2', 1, 3000), s('out', '0x3', 5, 10), s('in', '0x4', 6, 11)] });
	assert.deepStrictEqual(rows.map((r) => [r[3], r[4], r[6], r[7]]), [['0x4', '0x3', '4.0 KiB', '5s'], ['0x2', '0x1', '4.0 KiB', '1s']]);
	// Without age_s (an older daemon), the least idle pair first.
	const old = data.sessionRows({ version: 1, sessions: [s('out', '0x1', 90), s('in', '0x2', 90), s('out', '0x3', 1), s('in', '0x4', 2)] });
	assert.deepStrictEqual(old.map((r) => [r[3], r[4]]), [['0x4', '0x3'], ['0x2', '0x1']]);
});

test('open gates show seconds left, IKE state its ports and timers, bindings their pool', () => {
	const status = golden('status/all.expected');
	assert.deepStrictEqual(data.gateRows(status), [
		['192.168.1.11', '203.0.113.20', '198.51.100.1', 'out', 'open', 'Quick Mode 0x00000002', '3.5s'],
		['192.168.1.11', '203.0.113.20', '198.51.100.1', 'in', 'open', 'Quick Mode 0x00000002', '3.5s']
	]);
	assert.deepStrictEqual(data.ikeRows(status)[1],
		['192.168.1.11', '203.0.113.20:501', '198.51.100.1:500', 'IKEv1', '1000c0a8010b6401', '1s', '3h 59m']);
	assert.deepStrictEqual(data.bindingRows(status), [
		['192.168.1.10', '203.0.113.20', 'pool1', '1', '1', '2'],
		['192.168.1.11', '203.0.113.20', 'pool1', '1', '1', '0']
	]);
});

test('the counters that matter come from the counters and datapath groups', () => {
	const status = golden('status/all.expected');
	const counters = Object.fromEntries(data.keyCounters(status));
	assert.strictEqual(counters['Phase-2 exchanges allowed'], String(status.counters.phase2_allowed));
	assert.strictEqual(counters['Inbound ESP dropped, no gate'], '1');
	assert.strictEqual(counters['Gates collapsed'], String(status.counters.gates_collapsed));
	assert.strictEqual(counters['Queue overflow'], String(status.datapath.queue_overflow));
	assert.strictEqual(counters['Conntrack entries removed after a WAN change'], '2');
	assert.strictEqual(counters['SAs on the eBPF fast path'], '2');
	// Every counter the page shows exists in the daemon's document.
	for (const [, where] of data.KEY_COUNTERS)
		assert.ok(where[1] in status[where[0]], `${where.join('.')} is not in show --json`);
});

test('the page says which datapath forwards learned SAs, and why eBPF does not when asked for', () => {
	const idle = golden('status/empty.expected');
	assert.strictEqual(idle.fast_path.active, 'nft');
	assert.strictEqual(data.fastPathText(idle), 'Fast path: the nftables table.');
	assert.strictEqual(data.fastPathText(golden('status/all.expected')),
		'Fast path: tc eBPF, JIT-compiled, on br-lan, wan, 2 SAs offloaded; SAs not yet promoted take the nftables table.');
	const starting = { fast_path: { active: 'ebpf', esp_offload: true, devices: [], offloaded_sas: 0 } };
	assert.match(data.fastPathText(starting), /^Fast path: tc eBPF on no device yet, 0 SAs/);
	const interpreted = { fast_path: { active: 'ebpf', esp_offload: true, devices: ['wan'], offloaded_sas: 1, execution: 'interpreter' } };
	assert.match(data.fastPathText(interpreted), /^Fast path: tc eBPF, interpreted \(the kernel's BPF JIT is off\), on wan, 1 SAs/);
	const fallback = { fast_path: { active: 'nft', esp_offload: true, fallback: 'cannot read /usr/lib/ike-esp-alg/esp_fastpath.o', devices: [], offloaded_sas: 0 } };
	assert.strictEqual(data.fastPathText(fallback),
		'Fast path: the nftables table. ESP offload is on, but cannot read /usr/lib/ike-esp-alg/esp_fastpath.o.');
	assert.strictEqual(data.fastPathText(null), null);
	assert.strictEqual(data.fastPathText({ error: 'not running' }), null);
});

test('an empty engine gives empty tables; the per-part documents give their own rows', () => {
	const empty = golden('status/empty.expected');
	for (const rows of [data.ikeRows, data.gateRows, data.sessionRows, data.bindingRows])
		assert.deepStrictEqual(rows(empty), []);
	assert.deepStrictEqual(data.sessionRows(golden('status/sessions.expected')), data.sessionRows(golden('status/all.expected')));
	assert.deepStrictEqual(data.gateRows(golden('status/sessions.expected')), []);
	assert.deepStrictEqual(data.keyCounters(empty).map((c) => c[1]).filter((v) => v !== '0'), []);
});

test('the page says whether the ALG runs, and why not', () => {
	const running = golden('status/all.expected');
	assert.strictEqual(data.algState(running, '1').reason, 'running');
	assert.strictEqual(data.algState(running, '0').reason, 'disabled');
	assert.strictEqual(data.algState(null, undefined).reason, 'disabled');
	const down = data.algState({ error: 'ike-esp-alg is not running (no control socket at /var/run/ike-esp-alg.sock)', running: false }, '1');
	assert.deepStrictEqual([down.reason, down.running], ['not-running', false]);
	assert.match(down.detail, /no control socket/);
	assert.strictEqual(data.algState({ error: 'unexpected answer' }, '1').reason, 'error');
	assert.strictEqual(data.algState(null, '1').reason, 'error');
	assert.strictEqual(data.algState({ version: 2 }, '1').reason, 'unknown-version');
});

test('durations and sizes read as people write them', () => {
	assert.deepStrictEqual([0, 59, 60, 3599, 3600, 14368].map(data.secondsText), ['0s', '59s', '1m 0s', '59m 59s', '1h 0m', '3h 59m']);
	assert.deepStrictEqual([0, 1023, 1024, 1536, 5 * 1048576].map(data.bytesText), ['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 MiB']);
});

// The LuCI app's files: every JS file compiles as LuCI's loader compiles it and its
// top-level code runs against the named stand-in (tests/luci/luci_stand_in.js); the menu
// points at views that exist and asks for the app's ACL; the ACL grants the ubus methods
// the rpcd plugin lists; the .pot holds every translatable string. Not a browser test of
// LuCI: LuCI's runtime is not available here.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { load, requires, PACKAGE, RESOURCES } = require('./luci_stand_in');
const { strings, pot, jsFiles, POT } = require('./strings');

const ROOT = path.join(__dirname, '../..');
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

// Records what the views declare at load time.
function stubs() {
	const declared = [];
	const extendable = { extend: (props) => props };
	return {
		declared,
		provide: {
			view: extendable,
			rpc: { declare: (spec) => { declared.push(spec); return () => Promise.resolve({}); } },
			poll: { add() {} },
			ui: {},
			uci: { get() {}, sections: () => [], load: () => Promise.resolve() },
			dom: {},
			form: {},
			'tools.widgets': {},
			'ike-esp-alg.data': load('ike-esp-alg/data.js')
		}
	};
}

test('every JS file is strict and compiles as a LuCI module', () => {
	const files = jsFiles();
	assert.strictEqual(files.length, 3);
	for (const file of files) {
		const source = fs.readFileSync(file, 'utf8');
		assert.ok(source.startsWith("'use strict';\n"), `${file}: no 'use strict'`);
		const names = requires(source).map((r) => r.as);
		assert.doesNotThrow(() => new Function('L', '_', 'E', ...names, source), `${file} does not compile`);
	}
});

test('the status view polls the plugin and clears clients through it', () => {
	const s = stubs();
	const view = load('view/ike-esp-alg/status.js', s.provide);
	for (const method of ['load', 'render', 'update', 'handleClear'])
		assert.strictEqual(typeof view[method], 'function', method);
	assert.deepStrictEqual(s.declared.map((d) => [d.object, d.method, d.params || []]),
		[['ike-esp-alg', 'status', []], ['ike-esp-alg', 'clear', ['client']]]);
});

test('the settings view loads the package configuration', () => {
	const view = load('view/ike-esp-alg/settings.js', stubs().provide);
	assert.strictEqual(typeof view.render, 'function');
	const source = fs.readFileSync(path.join(RESOURCES, 'view/ike-esp-alg/settings.js'), 'utf8');
	// Every option of the default configuration file is on the page.
	const config = fs.readFileSync(path.join(ROOT, 'files/etc/config/ike-esp-alg'), 'utf8');
	const options = new Set([...config.matchAll(/^\s*#?\s*(?:option|list)\s+(\w+)/gm)].map((m) => m[1]));
	assert.ok(options.size >= 15, [...options].join(' '));
	for (const option of options)
		assert.ok(source.includes(`'${option}'`), `settings view lacks ${option}`);
});

test('the menu leads to both views and requires the app ACL', () => {
	const menu = readJson(path.join(PACKAGE, 'root/usr/share/luci/menu.d/luci-app-ike-esp-alg.json'));
	const views = Object.values(menu).filter((e) => e.action.type === 'view').map((e) => e.action.path);
	assert.deepStrictEqual(views.sort(), ['ike-esp-alg/settings', 'ike-esp-alg/status']);
	for (const v of views)
		assert.ok(fs.existsSync(path.join(RESOURCES, 'view', v + '.js')), v);
	assert.deepStrictEqual(menu['admin/services/ike-esp-alg'].depends.acl, ['luci-app-ike-esp-alg']);
});

test('the app ACL grants exactly the methods the rpcd plugin lists, clear as write', () => {
	const acl = readJson(path.join(PACKAGE, 'root/usr/share/rpcd/acl.d/luci-app-ike-esp-alg.json'))['luci-app-ike-esp-alg'];
	const listed = Object.keys(JSON.parse(execFileSync('sh', [path.join(ROOT, 'files/usr/libexec/rpcd/ike-esp-alg'), 'list'])));
	const read = acl.read.ubus['ike-esp-alg'], write = acl.write.ubus['ike-esp-alg'];
	assert.deepStrictEqual([...read, ...write].sort(), listed.sort());
	assert.deepStrictEqual(write, ['clear']);
	assert.ok(acl.read.uci.includes('ike-esp-alg') && acl.read.uci.includes('firewall'));
	assert.deepStrictEqual(acl.write.uci, ['ike-esp-alg']);
});

test('the .pot template is current and holds every translatable string', () => {
	const text = fs.readFileSync(POT, 'utf8');
	assert.strictEqual(text, pot(), 'run scripts/luci-pot.js');
	const all = strings();
	assert.ok(all.length > 50, `${all.length} strings`);
	for (const s of all)
		assert.ok(text.includes(`msgid ${JSON.stringify(s.msgid)}`), s.msgid);
});

// A stand-in for the few parts of LuCI's client-side runtime (luci.js) that the
// IKE/ESP ALG's views need in order to be loaded under node. It is NOT LuCI: LuCI's
// runtime is not available on this machine. It compiles a LuCI module the way LuCI's
// loader does (the file is a function body; each `'require NAME [as ALIAS]'` line
// becomes an argument), hands it the objects the test supplies, and instantiates a
// returned class. Nothing here renders a page or talks to rpcd; a test that uses it is
// a test of the modules' own code, not a browser test of LuCI.
'use strict';

const fs = require('fs');
const path = require('path');

const PACKAGE = path.join(__dirname, '../../package/luci-app-ike-esp-alg');
const RESOURCES = path.join(PACKAGE, 'htdocs/luci-static/resources');

// String.prototype.format as LuCI defines it, for %s and %d only.
if (!String.prototype.format) {
	Object.defineProperty(String.prototype, 'format', {
		value: function(...args) {
			let i = 0;
			return this.replace(/%[sd%]/g, (m) => (m == '%%' ? '%' : String(args[i++])));
		}
	});
}

// `baseclass.extend(props)`: a constructor whose prototype holds the properties.
const baseclass = {
	extend(props) {
		function Class() {}
		Object.assign(Class.prototype, props);
		Class.extend = baseclass.extend;
		return Class;
	}
};

// The `'require ...'` lines of a module: [{ name, as }], in order.
function requires(source) {
	const out = [];
	const re = /^\s*'require\s+([^\s']+)(?:\s+as\s+([A-Za-z_$][\w$]*))?';/gm;
	let m;
	while ((m = re.exec(source)) !== null) {
		const as = m[2] || m[1].split('.').pop();
		out.push({ name: m[1], as });
	}
	return out;
}

// Compiles and runs the module at `file` (relative to htdocs/luci-static/resources) with
// `provide[name]` for each required module; globals `L`, `_`, `E` as given (defaults: a
// bare L, identity `_`, and an `E` that records its arguments).
function load(file, provide = {}, globals = {}) {
	const source = fs.readFileSync(path.join(RESOURCES, file), 'utf8');
	const deps = requires(source);
	const names = ['L', '_', 'E', ...deps.map((d) => d.as)];
	const values = [
		globals.L || { bind: (fn, self, ...a) => fn.bind(self, ...a), resolveDefault: (p) => p },
		globals._ || ((s) => s),
		globals.E || ((tag, attrs, children) => ({ tag, attrs, children })),
		...deps.map((d) => {
			if (d.name === 'baseclass') return baseclass;
			if (!(d.name in provide)) throw new Error(`${file}: no stand-in for 'require ${d.name}'`);
			return provide[d.name];
		})
	];
	const result = new Function(...names, source).apply(values[0], values);
	return typeof result === 'function' ? new result() : result;
}

module.exports = { load, requires, baseclass, PACKAGE, RESOURCES };

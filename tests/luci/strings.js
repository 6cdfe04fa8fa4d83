// The translatable strings of the LuCI app: every `_('...')` in its JS files and every
// menu title, with where they are, and the .pot file made of them. Used by
// scripts/luci-pot.js (writes po/templates/ike-esp-alg.pot) and by the tests.
'use strict';

const fs = require('fs');
const path = require('path');
const { PACKAGE } = require('./luci_stand_in');

function walk(dir) {
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
		e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]).sort();
}

function jsFiles() {
	return walk(path.join(PACKAGE, 'htdocs')).filter((f) => f.endsWith('.js'));
}

function unescape(text) {
	return text.replace(/\\(.)/g, (m, c) => ({ n: '\n', t: '\t' }[c] || c));
}

// [{ msgid, where: 'path:line' }] in file order.
function strings() {
	const found = [];
	for (const file of jsFiles()) {
		const rel = path.relative(PACKAGE, file);
		fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
			for (const m of line.matchAll(/(?<![\w$.])_\(\s*'((?:[^'\\]|\\.)*)'/g))
				found.push({ msgid: unescape(m[1]), where: `${rel}:${i + 1}` });
		});
	}
	const menu = path.join(PACKAGE, 'root/usr/share/luci/menu.d/luci-app-ike-esp-alg.json');
	for (const entry of Object.values(JSON.parse(fs.readFileSync(menu, 'utf8'))))
		found.push({ msgid: entry.title, where: path.relative(PACKAGE, menu) });
	return found;
}

function quote(text) {
	return '"' + text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

// The .pot text: one entry per msgid, with every place it is used.
function pot() {
	const byId = new Map();
	for (const s of strings()) {
		if (!byId.has(s.msgid)) byId.set(s.msgid, []);
		if (!byId.get(s.msgid).includes(s.where)) byId.get(s.msgid).push(s.where);
	}
	let out = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
	for (const [msgid, wheres] of byId)
		out += '\n' + wheres.map((w) => `#: ${w}\n`).join('') + `msgid ${quote(msgid)}\nmsgstr ""\n`;
	return out;
}

module.exports = { strings, pot, jsFiles, POT: path.join(PACKAGE, 'po/templates/ike-esp-alg.pot') };

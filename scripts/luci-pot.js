#!/usr/bin/env node
// Writes package/luci-app-ike-esp-alg/po/templates/ike-esp-alg.pot from the LuCI app's
// _() strings and menu titles (tests/luci/strings.js); tests/luci checks it is current.
'use strict';
const fs = require('fs');
const { pot, POT } = require('../tests/luci/strings');
fs.writeFileSync(POT, pot());
console.log(`wrote ${POT}`);

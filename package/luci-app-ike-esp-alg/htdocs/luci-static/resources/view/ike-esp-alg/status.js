'use strict';
'require view';
'require rpc';
'require poll';
'require ui';
'require uci';
'require dom';
'require ike-esp-alg.data as data';

/*
 * Status → IKE/ESP ALG: whether the ALG runs (and why not), its IKE state, open gates,
 * ESP sessions, persistent NAT bindings and the counters that matter, polled every
 * 5 seconds from the rpcd plugin (`ubus call ike-esp-alg status`), with "Clear client".
 */

var callStatus = rpc.declare({
	object: 'ike-esp-alg',
	method: 'status',
	expect: { '': {} }
});

var callClear = rpc.declare({
	object: 'ike-esp-alg',
	method: 'clear',
	params: [ 'client' ],
	expect: { '': {} }
});

function table(headers) {
	return E('table', { 'class': 'table' }, [
		E('tr', { 'class': 'tr table-titles' }, headers.map(function(h) {
			return E('th', { 'class': 'th' }, h);
		}))
	]);
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(callStatus(), null),
			uci.load('ike-esp-alg')
		]);
	},

	handleClear: function(client, ev) {
		return callClear(client).then(L.bind(function(answer) {
			if (answer && answer.error)
				ui.addNotification(null, E('p', _('Clearing %s failed: %s').format(client, answer.error)), 'danger');
			else
				ui.addNotification(null, E('p', _('Cleared the ALG state of %s.').format(client)), 'info');
			return L.resolveDefault(callStatus(), null).then(L.bind(this.update, this));
		}, this));
	},

	update: function(status) {
		var state = data.algState(status, uci.get('ike-esp-alg', 'ike_esp_nat', 'enabled'));
		var text;
		switch (state.reason) {
		case 'disabled':
			text = _('Disabled: option enabled is 0 in /etc/config/ike-esp-alg. IPsec passes through as on a stock router; several plain-ESP clients to one server break each other.');
			break;
		case 'not-running':
			text = _('Enabled, but the daemon is not running (%s). Check the system log.').format(state.detail);
			break;
		case 'error':
			text = _('Enabled, but the status could not be read: %s').format(state.detail);
			break;
		case 'unknown-version':
			text = _('Running, but it reports status version %s, which this page does not know.').format(state.detail);
			break;
		default:
			text = _('Enabled and running.');
		}
		var n = this.nodes;
		var fastPath = state.reason == 'running' ? data.fastPathText(status) : null;
		dom.content(n.state, fastPath ? [ E('p', {}, text), E('p', {}, fastPath) ] : E('p', {}, text));

		var clearButton = L.bind(function(client) {
			return E('button', {
				'class': 'btn cbi-button cbi-button-remove',
				'click': ui.createHandlerFn(this, 'handleClear', client)
			}, _('Clear client'));
		}, this);

		cbi_update_table(n.ike, data.ikeRows(status), E('em', _('No IKE ALG state.')));
		cbi_update_table(n.gates, data.gateRows(status), E('em', _('No open gates.')));
		cbi_update_table(n.sessions, data.sessionRows(status).map(function(row) {
			return row.slice(0, 8).concat([ clearButton(row[8]) ]);
		}), E('em', _('No ESP sessions.')));
		cbi_update_table(n.bindings, data.bindingRows(status), E('em', _('No persistent NAT bindings.')));
		cbi_update_table(n.counters, data.keyCounters(status), E('em', _('No counters.')));
	},

	render: function(results) {
		var n = this.nodes = {
			state: E('div', { 'class': 'cbi-section' }),
			ike: table([ _('Client'), _('NAT address'), _('Server'), _('IKE'), _('Initiator SPI'), _('Idle'), _('Expires') ]),
			gates: table([ _('Client'), _('NAT address'), _('Server'), _('Direction'), _('State'), _('Exchange'), _('Seconds left') ]),
			sessions: table([ _('Client'), _('NAT address'), _('Server'), _('SPI in'), _('SPI out'), _('Packets'), _('Bytes'), _('Idle'), '' ]),
			bindings: table([ _('Client'), _('NAT address'), _('Pool'), _('IKE SAs'), _('Flows'), _('Sessions') ]),
			counters: table([ _('Counter'), _('Value') ])
		};
		var page = E('div', { 'class': 'cbi-map' }, [
			E('h2', _('IKE/ESP ALG')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Lets several plain-ESP (non-NAT-T) VPN clients behind this router reach the same VPN server at once.')),
			n.state,
			E('h3', _('IKE ALG state')), n.ike,
			E('h3', _('Open gates')), n.gates,
			E('h3', _('ESP sessions')), n.sessions,
			E('h3', _('Persistent NAT bindings')), n.bindings,
			E('h3', _('Counters')), n.counters
		]);

		poll.add(L.bind(function() {
			return L.resolveDefault(callStatus(), null).then(L.bind(this.update, this));
		}, this), 5);

		this.update(results[0]);
		return page;
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});

'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';
'require ike-esp-alg.data as data';

/*
 * Services → IKE/ESP ALG → Settings: every option of /etc/config/ike-esp-alg (SPEC §4),
 * validated with the same ranges and messages as `ike-esp-alg check`, saved through
 * LuCI's Save & Apply (uci commit; the package's reload trigger sends the daemon SIGHUP).
 */

/*
 * A validator for option `name` of a `section_type` section: true, or check's message.
 * Options that `check` reads together (data.DEPENDS: ike_port and natt_port) see the
 * other's value as the form has it (LuCI calls validate with the option as `this`).
 */
function checked(section_type, name) {
	return function(section_id, value) {
		var others = {};
		(data.DEPENDS[name] || []).forEach(L.bind(function(other) {
			/* The form's value; the saved one while the other field is not rendered yet. */
			var v = null;
			try { v = this.section.formvalue(section_id, other); } catch (e) {}
			others[other] = (v != null) ? v : uci.get('ike-esp-alg', section_id, other);
		}, this));
		return data.validate(section_type, name, value, others) || true;
	};
}

function number(s, name, title, description) {
	var r = data.RANGES[name];
	var o = s.option(form.Value, name, title, description);
	o.placeholder = String(r.dflt);
	o.validate = checked('alg', name);
	return o;
}

return view.extend({
	load: function() {
		return uci.load('ike-esp-alg');
	},

	render: function() {
		var m, s, o;

		m = new form.Map('ike-esp-alg', _('IKE/ESP ALG'),
			_('Lets several plain-ESP (non-NAT-T) VPN clients behind this router reach the same VPN server at once, after Juniper\'s IKE and ESP ALG.'));

		s = m.section(form.NamedSection, 'ike_esp_nat', 'alg', _('ALG'));
		s.addremove = false;
		o = s.option(form.Flag, 'enabled', _('Enabled'),
			_('Off: IPsec passes through as on a stock router.'));
		o.default = '0';
		o.rmempty = false;
		number(s, 'state_timeout', _('State timeout'), _('Seconds without IKE traffic before an IKE SA\'s ALG state goes (180-86400).'));
		number(s, 'esp_gate_timeout', _('ESP gate timeout'), _('Seconds an open gate waits for the first ESP packet of a new SA (2-30).'));
		number(s, 'esp_gate_settle', _('ESP gate settle time'), _('Seconds an answered, unused gate stays while others wait (0: off) (0-30).'));
		number(s, 'esp_session_timeout', _('ESP session timeout'), _('Seconds without traffic before an ESP session goes (60-2400).'));
		number(s, 'ike_port', _('IKE port'), _('UDP port of IKE without NAT traversal (1-65535).'));
		number(s, 'natt_port', _('NAT-T port'), _('UDP port of IKE and ESP with NAT traversal, passed through from the same address (1-65535).'));
		number(s, 'binding_linger', _('Binding linger'), _('Seconds a client keeps its NAT address after its last IKE state, session or flow (0-86400).'));
		number(s, 'queue_num', _('Queue number'), _('NFQUEUE number of the ALG\'s queue rules (0-65535).'));
		o = s.option(form.Flag, 'fail_open', _('Fail open'),
			_('Traffic bypasses the queue while the daemon is not running.'));
		o.default = '1';
		o = s.option(form.Flag, 'esp_offload', _('ESP offload'),
			_('Learned SAs are forwarded by the tc eBPF fast path, bypassing the firewall once one of their packets has passed it, like flow offloading. Falls back to the nftables path where the kernel lacks support.'));
		o.default = '0';

		s = m.section(form.NamedSection, 'source', 'nat', _('Source NAT'));
		s.addremove = false;
		o = s.option(form.Flag, 'address_persistent', _('Address persistent'),
			_('One client, one NAT address for IKE, ESP and NAT-T.'));
		o.default = '1';

		s = m.section(form.TypedSection, 'pool', _('Address pools'),
			_('Public addresses to translate to instead of the interface address.'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(form.DynamicList, 'address', _('Addresses'), _('A-B, a.b.c.d/n or a single address.'));
		o.validate = checked('pool', 'address');
		o = s.option(form.Flag, 'proxy_arp', _('Proxy ARP'),
			_('Answer ARP for the pool\'s addresses on the WAN interface.'));
		o.default = '0';

		s = m.section(form.TypedSection, 'rule_set', _('Rule sets'),
			_('From one firewall zone to another.'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(widgets.ZoneSelect, 'from_zone', _('From zone'));
		o.nocreate = true;
		o.rmempty = false;
		o = s.option(widgets.ZoneSelect, 'to_zone', _('To zone'));
		o.nocreate = true;
		o.rmempty = false;

		s = m.section(form.TypedSection, 'rule', _('Rules'),
			_('Which clients and servers the ALG handles, and the address they are translated to.'));
		s.addremove = true;
		s.anonymous = true;
		o = s.option(form.ListValue, 'rule_set', _('Rule set'));
		uci.sections('ike-esp-alg', 'rule_set').forEach(function(rs) {
			o.value(rs['.name']);
		});
		o.rmempty = false;
		o = s.option(form.DynamicList, 'source_address', _('Source addresses'),
			_('Clients, a.b.c.d/n or a single address; none means every client.'));
		o.validate = checked('rule', 'source_address');
		o = s.option(form.DynamicList, 'destination_address', _('Destination addresses'),
			_('Servers, a.b.c.d/n or a single address; none means every server.'));
		o.validate = checked('rule', 'destination_address');
		o = s.option(form.ListValue, 'source_nat', _('Source NAT'));
		o.value('interface', _('Interface address'));
		uci.sections('ike-esp-alg', 'pool').forEach(function(pool) {
			o.value(pool['.name'], _('Pool %s').format(pool['.name']));
		});
		o.default = 'interface';
		o.rmempty = false;

		return m.render();
	}
});

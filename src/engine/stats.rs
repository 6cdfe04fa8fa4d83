//! The engine's counters (SPEC §5). Every drop, limit and expiry has one.

macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $name:ident ),* $(,)?) => {
        /// Monotonic counters since the engine started. Field names are stable: they are
        /// the keys of the JSON status.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        impl Counters {
            /// `(name, value)` for every counter, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$( (stringify!($name), self.$name), )*]
            }
        }
    };
}

counters! {
    /// Packets handed to the engine.
    packets,
    /// Packets that match no rule and were let through untouched.
    packets_not_matched,
    /// IPv6 packets, recognised and let through.
    ipv6_passed,
    /// IPv4 fragments after the first, let through (no header to read).
    fragments_passed,
    /// Packets whose IP header could not be read, let through.
    ip_malformed,
    /// UDP on the IKE port without a valid ISAKMP header, let through.
    ike_malformed,
    /// ESP too short for an SPI, dropped.
    esp_malformed,
    /// IKE messages seen.
    ike_messages,
    /// Inbound IKE to a NAT address and port that no tracked flow uses, let through.
    ike_inbound_unknown_flow,
    /// Phase-2 exchanges allowed (gates opened).
    phase2_allowed,
    /// Later messages and retransmissions of an exchange in progress.
    phase2_continued,
    /// Messages of an exchange that already ended, let through without new gates.
    phase2_late,
    /// Phase-2 messages dropped: the pair had an exchange in progress.
    phase2_dropped_pair_busy,
    /// Phase-2 messages dropped: another client held the inbound gate.
    phase2_dropped_gate_busy,
    /// Phase-2 messages dropped: the inbound gate was reserved for a waiting client.
    phase2_dropped_gate_reserved,
    /// Gates opened (two per exchange).
    gates_opened,
    /// Gates hit by their first ESP packet.
    gates_hit,
    /// Exchanges whose two gates were both hit and closed.
    gates_collapsed,
    /// Gates that closed unhit after `esp_gate_timeout`.
    gates_expired,
    /// Gates removed with their ALG state or by `clear`.
    gates_removed,
    /// Inbound gates re-opened by a client's first ESP on an SA whose exchange's inbound
    /// gate had expired unused.
    gates_resumed,
    /// Unused gates an answered exchange gave up early, both unused, for a client waiting
    /// for the slot (`esp_gate_settle` after the answer); the inbound SPI is then owed.
    gates_released_early,
    /// Inbound ESP with an unknown SPI refused by an open gate: its sequence number
    /// said its SA was older than the gate's exchange (`InboundEspNotFresh`).
    inbound_esp_not_fresh,
    /// Inbound ESP with an unknown SPI refused by an open gate whose exchange had not
    /// been answered yet (`InboundEspBeforeAnswer`).
    inbound_esp_before_answer,
    /// ESP sessions learned through a gate.
    sessions_created_gate,
    /// Outbound ESP sessions created without a gate (SPEC rule 6).
    sessions_created_without_gate,
    /// ESP sessions restored after a restart.
    sessions_restored,
    /// ESP sessions expired after `esp_session_timeout` of idleness.
    sessions_expired,
    /// ESP sessions removed by `clear` or a NAT address change.
    sessions_cleared,
    /// ESP packets of known sessions that reached userspace (normally the kernel forwards them).
    esp_session_packets,
    /// First outbound ESP of an SA with an owed inbound SPI, dropped while another client
    /// holds the inbound gate (it waits its turn like a phase-2 message).
    esp_waiting_for_gate,
    /// Inbound ESP with unknown SPI and no gate, dropped (SPEC rule 6).
    inbound_esp_dropped_no_gate,
    /// ESP with SPI 0, dropped.
    esp_reserved_spi,
    /// NAT-T packets seen (not processed by the ALG, SPEC rule 7).
    natt_packets,
    /// IKE SAs tracked.
    ike_sas_created,
    /// IKE SAs expired after `state_timeout` without IKE traffic.
    ike_sas_expired,
    /// IKE flows whose source port 500 was kept.
    ike_port_kept,
    /// IKE flows whose source port had to be translated.
    ike_port_translated,
    /// Persistent NAT bindings created.
    bindings_created,
    /// Bindings placed on an address that other clients already use.
    bindings_shared,
    /// Bindings removed after their linger time.
    bindings_expired,
    /// Packets dropped because no NAT address was available.
    no_nat_address,
    /// Drops because a table was full.
    table_full,
    /// Drops because a client reached its own share of a table.
    client_limit,
    /// Log events dropped because the shell did not drain them in time.
    events_dropped,
}

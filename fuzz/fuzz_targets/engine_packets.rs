//! The engine fed arbitrary packets and time jumps. The input is split into records:
//! one control byte (time step, and which of a few prefixes to put in front so that
//! records often look like IKE or ESP between the test's hosts), a length, then bytes.
#![no_main]

use ike_esp_alg::engine::{Engine, EngineConfig};
use ike_esp_alg::time::Instant;
use ike_esp_alg::wire::build;
use ike_esp_alg::wire::IpProtocol;
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::time::Duration;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

fuzz_target!(|data: &[u8]| {
    let mut config = EngineConfig::default();
    config.limits.max_sessions = 64;
    config.limits.max_ike_sas = 16;
    config.limits.max_pending_events = 16;
    let Ok(mut engine) = Engine::new(config) else { return };
    engine.handle_egress_address(Instant::ZERO, Some(WAN));
    let mut now = Instant::ZERO;
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(u64::from(control >> 4) * 700);
        let packet = match control & 0x7 {
            0 => build::udp(CLIENT, 500, SERVER, 500, body),
            1 => build::udp(SERVER, 500, WAN, 500, body),
            2 => build::ipv4(IpProtocol::ESP, CLIENT, SERVER, body),
            3 => build::ipv4(IpProtocol::ESP, SERVER, WAN, body),
            4 => build::udp(CLIENT, 4500, SERVER, 4500, body),
            _ => body.to_vec(),
        };
        let _ = engine.handle_packet(now, &packet);
        while engine.poll_action().is_some() {}
        while engine.poll_event().is_some() {}
        if control & 0x8 != 0 {
            engine.handle_timeout(now + Duration::from_secs(3600));
        }
    }
    let limits = engine.config().limits;
    let sizes = engine.table_sizes();
    assert!(sizes.sessions <= limits.max_sessions);
    assert!(sizes.ike_sas <= limits.max_ike_sas);
    let snapshot = engine.snapshot(now);
    assert_eq!(ike_esp_alg::engine::Snapshot::decode(&snapshot.encode()).ok(), Some(snapshot));
});

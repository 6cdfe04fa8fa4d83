//! Any bytes through the wire views: classification never panics, and an address rewrite
//! of a readable IPv4 packet keeps it readable with the new addresses.
#![no_main]

use ike_esp_alg::wire::{classify, rewrite_ipv4_addresses, Ipv4Packet, Ports};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    let _ = classify(data, Ports::default());
    let _ = classify(data, Ports { ike: 4500, natt: 500 });
    if Ipv4Packet::new_checked(data).is_ok() {
        let mut copy = data.to_vec();
        let nat = Ipv4Addr::new(203, 0, 113, 7);
        if rewrite_ipv4_addresses(&mut copy, Some(nat), None).is_ok() {
            let view = Ipv4Packet::new_checked(&copy).expect("still a packet after rewrite");
            assert_eq!(view.src(), nat);
        }
    }
});

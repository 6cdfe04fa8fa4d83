//! Any bytes as a netlink receive buffer: every message decodes as an NFQUEUE message, as
//! an rtnetlink address or route message and, when shaped like one, as an nf_tables
//! set-element dump; nothing panics, and every
//! element read back lies inside the buffer it came from.
#![no_main]

use ike_esp_alg::netlink::framing::messages;
use ike_esp_alg::netlink::nftables::{dumped_elements, registers};
use ike_esp_alg::netlink::route;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for message in messages(data) {
        let Ok(message) = message else { break };
        let _ = message.decode();
        let _ = message.error_code();
        let _ = route::decode(&message);
        if let Ok(elements) = dumped_elements(message.payload) {
            for e in elements {
                let inside = |s: &[u8]| data.as_ptr_range().contains(&s.as_ptr()) || s.is_empty();
                assert!(inside(e.key));
                assert!(e.value.map_or(true, inside));
                let _ = e.esp_key();
                assert!(registers(e.key).count() <= e.key.len() / 4);
            }
        }
    }
});

//! State files are read back after a restart: any text gets a value or a located error,
//! and whatever decodes encodes back to something that decodes the same.
#![no_main]

use ike_esp_alg::engine::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let with_header = format!("ike-esp-alg-state 1\n{text}");
    for input in [text, with_header.as_str()] {
        if let Ok(snapshot) = Snapshot::decode(input) {
            assert_eq!(Snapshot::decode(&snapshot.encode()), Ok(snapshot));
        }
    }
});

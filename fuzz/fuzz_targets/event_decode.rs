//! `Event::decode` and `Event::decode_lines` on arbitrary bytes: never panic, one result per
//! non-blank line, and an event that decodes re-encodes to bytes that decode to the same event.
#![no_main]

use ghostlink_proto::Event;
use libfuzzer_sys::fuzz_target;

fn encode(event: &Event) -> Vec<u8> {
    match event {
        Event::LinkCreated(e) => e.to_bytes(),
        Event::LinkUpdated(e) => e.to_bytes(),
        Event::LinkDeleted(e) => e.to_bytes(),
        Event::ClickRecorded(e) => e.to_bytes(),
        Event::RiskScored(e) => e.to_bytes(),
        Event::LinkQuarantined(e) => e.to_bytes(),
        Event::LinkRestored(e) => e.to_bytes(),
        Event::ProbeDetected(e) => e.to_bytes(),
        Event::WebhookDisabled(e) => e.to_bytes(),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::decode(data) {
        let bytes = encode(&event);
        let again = Event::decode(&bytes).expect("a decoded event re-encodes to a decodable one");
        assert_eq!(again, event);
    }
    let lines = data.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
    let results = Event::decode_lines(data);
    assert_eq!(results.len(), lines);
    for r in results.into_iter().flatten() {
        let _ = (r.id(), r.kind());
    }
});

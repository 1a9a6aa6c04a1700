//! The test's own broker topology (the prefix of [`crate::amqp_args`]): a publisher on it,
//! events (a click, say) sent the way the services send them, and its stream read back.

use ghostlink_bus::{Outgoing, Publisher, Topology};
use ghostlink_config::AmqpArgs;
use ghostlink_proto::{ClickRecorded, Envelope, Event, EventData};

/// The exchanges and queues under the test's prefix.
pub fn topology(amqp: &AmqpArgs) -> Topology {
    Topology::new(amqp.bus_prefix.clone())
}

/// A publisher to the test's exchange (close it at the end of the test).
pub fn publisher(amqp: &AmqpArgs) -> Publisher {
    Publisher::new(amqp.amqp_url.clone(), topology(amqp))
}

/// `env` as the services publish it: routed by its type, its id as the message id.
pub fn outgoing<T: EventData>(env: &Envelope<T>) -> Outgoing {
    Outgoing { routing_key: T::TYPE.into(), message_id: env.id.to_string(), payload: env.to_bytes() }
}

/// A click on `code` as the redirect records it: redirected, a GET from one fixed client, no
/// user agent or referrer, not a bot. A test sets what it looks at:
/// `ClickRecorded { bot: true, ..click(code) }`.
pub fn click(code: &str) -> ClickRecorded {
    ClickRecorded {
        code: code.into(),
        outcome: ghostlink_domain::ClickOutcome::Redirect,
        method: "GET".into(),
        user_agent: None,
        referrer: None,
        client_hash: "0123456789abcdef0123456789abcdef".into(),
        bot: false,
        address_hash: None,
        rule: None,
        country: None,
        region: None,
    }
}

/// Every event on the test's stream from the first, in order; a line that does not decode is
/// left out (the tests that send one look at the dead letters instead).
pub async fn stream_events(amqp: &AmqpArgs) -> Vec<Event> {
    let mut out = Vec::new();
    ghostlink_bus::read_stream(
        &amqp.amqp_url,
        &topology(amqp),
        ghostlink_bus::StreamStart::First,
        1000,
        std::time::Duration::from_secs(2),
        |msgs| {
            out.extend(msgs.iter().flat_map(|m| Event::decode_lines(&m.payload)).filter_map(Result::ok));
            async { true }
        },
    )
    .await
    .expect("read the stream");
    out
}

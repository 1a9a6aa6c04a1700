-- The W3C trace context of the request that wrote an outbox row, so the relay's publish (and
-- every consumer after it) continues that request's trace. NULL: tracing off, or written
-- outside any sampled span.
ALTER TABLE outbox ADD COLUMN traceparent text, ADD COLUMN tracestate text;

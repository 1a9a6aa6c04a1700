//! From events to deliveries: each event's link key names a workspace (looked up in Postgres
//! for the whole batch at once), each enabled subscription of that workspace that wants the
//! event's type gets one delivery row, written idempotently by (subscription, event id). The
//! clicks of a batch become one `click.batch` delivery per subscription, whose id is derived
//! from the clicks it holds, so a redelivered batch writes nothing twice.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ghostlink_db::webhook_deliveries::{NewDelivery, Subscriber};
use ghostlink_domain::webhook::{payload, WebhookEventType};
use ghostlink_proto::Event;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Clicks in one `click.batch` delivery at most (a bigger consumer batch makes several), so a
/// body stays well under a megabyte.
pub const MAX_CLICKS_PER_DELIVERY: usize = 1_000;

/// One event a subscription may want, with the link it is about.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: Uuid,
    pub kind: WebhookEventType,
    pub code: String,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
}

/// What an event means to webhooks (`None`: nothing any subscription can ask for).
pub fn hook_of(event: &Event) -> Option<Hook> {
    let (id, kind, code, at, data) = match event {
        Event::LinkCreated(e) => {
            (e.id, WebhookEventType::LinkCreated, e.data.code.clone(), e.occurred_at, json!(e.data))
        }
        Event::LinkUpdated(e) => {
            (e.id, WebhookEventType::LinkUpdated, e.data.code.clone(), e.occurred_at, json!(e.data))
        }
        Event::LinkDeleted(e) => {
            (e.id, WebhookEventType::LinkDeleted, e.data.code.clone(), e.occurred_at, json!(e.data))
        }
        Event::LinkQuarantined(e) => {
            (e.id, WebhookEventType::LinkQuarantined, e.data.code.clone(), e.occurred_at, json!(e.data))
        }
        Event::LinkRestored(e) => {
            (e.id, WebhookEventType::LinkRestored, e.data.code.clone(), e.occurred_at, json!(e.data))
        }
        Event::ProbeDetected(e) => {
            (e.id, WebhookEventType::FindingOpened, e.data.code.clone()?, e.occurred_at, json!(e.data))
        }
        Event::ClickRecorded(e) => {
            let c = &e.data;
            let click = json!({
                "id": e.id,
                "code": c.code,
                "occurred_at": e.occurred_at,
                "outcome": c.outcome,
                "bot": c.bot,
                "referrer": c.referrer,
                "user_agent": c.user_agent,
                "rule": c.rule,
            });
            (e.id, WebhookEventType::ClickBatch, c.code.clone(), e.occurred_at, click)
        }
        Event::RiskScored(_) | Event::WebhookDisabled(_) => return None,
    };
    Some(Hook { id, kind, code, occurred_at: at, data })
}

/// The deliveries `hooks` make for `subscribers`, given each link key's workspace.
pub fn deliveries(
    hooks: &[Hook],
    workspace_of: &HashMap<String, i64>,
    subscribers: &[Subscriber],
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    // Clicks per subscription, in event order.
    let mut clicks: BTreeMap<i64, Vec<&Hook>> = BTreeMap::new();
    for hook in hooks {
        let Some(&ws) = workspace_of.get(&hook.code) else { continue };
        for sub in subscribers.iter().filter(|s| s.workspace_id == ws && s.event_types.contains(&hook.kind)) {
            if hook.kind == WebhookEventType::ClickBatch {
                clicks.entry(sub.id).or_default().push(hook);
                continue;
            }
            out.push(NewDelivery {
                subscription_id: sub.id,
                event_id: hook.id,
                event_type: hook.kind,
                body: payload(hook.kind, hook.occurred_at, hook.data.clone()),
            });
        }
    }
    for (sub, all) in clicks {
        for batch in all.chunks(MAX_CLICKS_PER_DELIVERY) {
            let mut ids: Vec<Uuid> = batch.iter().map(|h| h.id).collect();
            ids.sort();
            let latest = batch.iter().map(|h| h.occurred_at).max().unwrap_or_else(Utc::now);
            let clicks: Vec<&Value> = batch.iter().map(|h| &h.data).collect();
            out.push(NewDelivery {
                subscription_id: sub,
                event_id: batch_id(&ids),
                event_type: WebhookEventType::ClickBatch,
                body: payload(
                    WebhookEventType::ClickBatch,
                    latest,
                    json!({ "count": batch.len(), "clicks": clicks }),
                ),
            });
        }
    }
    out
}

/// A stable id for a set of clicks: the same clicks make the same id (a UUID of version 8 from
/// the SHA-256 of their sorted ids).
fn batch_id(sorted: &[Uuid]) -> Uuid {
    let mut h = Sha256::new();
    for id in sorted {
        h.update(id.as_bytes());
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_id_depends_on_the_clicks_only() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut one = vec![a, b];
        let mut two = vec![b, a];
        one.sort();
        two.sort();
        assert_eq!(batch_id(&one), batch_id(&two));
        assert_ne!(batch_id(&one), batch_id(&[a]));
    }

    #[test]
    fn clicks_fan_out_in_bounded_batches_to_the_subscriptions_that_want_them() {
        let hook = |code: &str, kind| Hook {
            id: Uuid::now_v7(),
            kind,
            code: code.into(),
            occurred_at: Utc::now(),
            data: json!({}),
        };
        let mut hooks: Vec<Hook> = (0..2_500).map(|_| hook("c", WebhookEventType::ClickBatch)).collect();
        hooks.push(hook("c", WebhookEventType::LinkDeleted));
        hooks.push(hook("elsewhere", WebhookEventType::LinkDeleted));
        let workspace_of = HashMap::from([("c".to_string(), 1), ("elsewhere".to_string(), 2)]);
        let subs = [
            Subscriber { id: 10, workspace_id: 1, event_types: vec![WebhookEventType::ClickBatch] },
            Subscriber { id: 11, workspace_id: 1, event_types: vec![WebhookEventType::LinkDeleted] },
            Subscriber { id: 12, workspace_id: 3, event_types: WebhookEventType::ALL.to_vec() },
        ];
        let out = deliveries(&hooks, &workspace_of, &subs);
        let per_sub = |id| out.iter().filter(|d| d.subscription_id == id).count();
        assert_eq!((per_sub(10), per_sub(11), per_sub(12)), (3, 1, 0));
        let counts: Vec<u64> = out
            .iter()
            .filter(|d| d.subscription_id == 10)
            .map(|d| {
                serde_json::from_str::<Value>(&d.body).expect("json")["data"]["count"]
                    .as_u64()
                    .expect("count")
            })
            .collect();
        assert_eq!(counts, [1_000, 1_000, 500]);
    }
}

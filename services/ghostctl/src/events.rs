//! `ghostctl replay clicks`, `ghostctl dlq list|show|replay`, `ghostctl events tail`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use ghostlink_bus::{StreamStart, Topology, CONSUMERS};
use ghostlink_config::{AmqpArgs, DatabaseArgs};
use ghostlink_proto::Event;

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Re-read click events from the stream and store them again through the recorder's
    /// idempotent handler: what is stored stays, what is missing comes back. Events that can
    /// never be stored (undecodable, or values the database refuses) are counted as rejected,
    /// named on stderr, and skipped.
    Clicks {
        /// `first`, a stream offset, or an RFC 3339 time.
        #[arg(long)]
        from: String,
        /// Only events that occurred before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Ask the risk scorer to score links again (after the blocklist or the rules changed):
    /// publishes each link's current state as `link.updated`. Without `--all`, only links never
    /// scored.
    Rescore {
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters waiting, per consumer.
    List,
    /// Print dead letters of a consumer without removing them.
    Show {
        /// Consumer name, e.g. click-recorder.
        consumer: String,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Republish a consumer's dead letters to the events exchange.
    Replay {
        /// Consumer name, e.g. click-recorder.
        consumer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print events as they are published, one JSON object per line, until Ctrl-C.
    Tail {
        /// Only this event type (routing-key pattern, e.g. `click.recorded` or `link.*`).
        #[arg(long = "type")]
        kind: Option<String>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(e.to_string()))
}

fn parse_time(flag: &str, s: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Failure::usage(format!("{flag}: '{s}' is not `first`, an offset or an RFC 3339 time")))
}

fn parse_start(s: &str) -> Result<(StreamStart, Option<DateTime<Utc>>), Failure> {
    if s == "first" {
        return Ok((StreamStart::First, None));
    }
    if let Ok(o) = s.parse::<u64>() {
        return Ok((StreamStart::Offset(o), None));
    }
    let t = parse_time("--from", s)?;
    // The stream is indexed by publish time, which is never before the event occurred (spooled
    // events are published late): start there, then keep only what occurred from `t` on.
    Ok((StreamStart::Time(t), Some(t)))
}

fn check_consumer(name: &str) -> Result<(), Failure> {
    if CONSUMERS.iter().any(|c| c.name == name) {
        Ok(())
    } else {
        let known: Vec<&str> = CONSUMERS.iter().map(|c| c.name).collect();
        Err(Failure::usage(format!("unknown consumer '{name}'; known: {}", known.join(", "))))
    }
}

pub fn replay(db: &DatabaseArgs, amqp: &AmqpArgs, cmd: ReplayCommand) -> Result<(), Failure> {
    let ReplayCommand::Clicks { from, to } = cmd;
    let (start, since) = parse_start(&from)?;
    let until = to.as_deref().map(|t| parse_time("--to", t)).transpose()?;
    let pool = ghostlink_db::Db::new(&ghostlink_db::DbSettings {
        url: db.database_url.clone(),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(60),
    });
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let topo = Topology::new(amqp.bus_prefix.clone());
    let rt = runtime()?;
    let totals = std::rc::Rc::new(std::cell::RefCell::new(ghostlink_recorder::Applied::default()));
    let mut last_offset = None;
    let stalled = std::rc::Rc::new(std::cell::Cell::new(false));
    let read = rt
        .block_on(ghostlink_bus::read_stream(
            &amqp.amqp_url,
            &topo,
            start,
            1000,
            Duration::from_secs(2),
            |msgs| {
                last_offset = msgs.last().map(|m| m.offset);
                // One payload per event line, keeping only clicks in the asked window (undecodable
                // lines go through, for the handler to count as rejected).
                let payloads: Vec<Vec<u8>> = msgs
                    .into_iter()
                    .filter(|m| m.routing_key == "click.recorded")
                    .flat_map(|m| {
                        m.payload
                            .split(|b| *b == b'\n')
                            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                            .map(<[u8]>::to_vec)
                            .collect::<Vec<_>>()
                    })
                    .filter(|line| match ghostlink_recorder::decode(line) {
                        Ok((Event::ClickRecorded(e), _)) => {
                            since.is_none_or(|s| e.occurred_at >= s)
                                && until.is_none_or(|u| e.occurred_at < u)
                        }
                        Ok(_) => false,
                        Err(_) => true,
                    })
                    .collect();
                let pool = pool.clone();
                let log = log.clone();
                let totals = totals.clone();
                let stalled = stalled.clone();
                async move {
                    let out = ghostlink_recorder::apply(&pool, &payloads, &log, || true).await;
                    if out.verdicts.contains(&ghostlink_bus::Verdict::Retry) {
                        // The database failed: stop here rather than skip events.
                        stalled.set(true);
                        return false;
                    }
                    for r in &out.refused {
                        eprintln!("rejected ({}): {}", r.reason.as_str(), r.detail);
                    }
                    totals.borrow_mut().add(&out.applied);
                    true
                }
            },
        ))
        .map_err(|e| Failure::other(e.to_string()))?;
    let totals = *totals.borrow();
    if stalled.get() {
        return Err(Failure::other(format!(
            "the database failed during the replay; stopped near offset {}; rerun the same command (it is idempotent)",
            last_offset.map(|o| o.to_string()).unwrap_or_else(|| "-".into())
        )));
    }
    eprintln!(
        "replayed {read} stream messages: {} click rows restored, {} already stored, {} rejected \
         ({} undecodable, {} refused by the database), {} made storable; last offset {}",
        totals.written,
        totals.duplicates,
        totals.rejected(),
        totals.undecodable,
        totals.refused,
        totals.sanitised,
        last_offset.map(|o| o.to_string()).unwrap_or_else(|| "-".into())
    );
    Ok(())
}

pub fn dlq(amqp: &AmqpArgs, cmd: DlqCommand) -> Result<(), Failure> {
    let topo = Topology::new(amqp.bus_prefix.clone());
    let rt = runtime()?;
    match cmd {
        DlqCommand::List => {
            println!("{:<20} {:<40} MESSAGES", "CONSUMER", "QUEUE");
            for c in CONSUMERS {
                let q = topo.dlq(c.name);
                let n = rt
                    .block_on(async {
                        ghostlink_bus::declare_topology(&amqp.amqp_url, &topo).await?;
                        ghostlink_bus::queue_depth(&amqp.amqp_url, &q).await
                    })
                    .map_err(|e| Failure::other(e.to_string()))?;
                println!("{:<20} {:<40} {n}", c.name, q);
            }
        }
        DlqCommand::Show { consumer, limit } => {
            check_consumer(&consumer)?;
            let letters = rt
                .block_on(ghostlink_bus::admin::dlq_peek(&amqp.amqp_url, &topo, &consumer, limit))
                .map_err(|e| Failure::other(e.to_string()))?;
            for l in &letters {
                let deliveries = l.deliveries.map(|d| d.to_string()).unwrap_or_else(|| "?".into());
                // The header comes from whoever dead-lettered it: no raw control character reaches the terminal.
                let reason = l
                    .reason
                    .as_deref()
                    .map(|r| format!("\treason={}", ghostlink_domain::click_text::storable_str(r, 1024)))
                    .unwrap_or_default();
                println!(
                    "{}\tdeliveries={deliveries}{reason}\t{}",
                    l.routing_key,
                    String::from_utf8_lossy(&l.payload)
                );
            }
            eprintln!("{} dead letter(s) shown (left in place)", letters.len());
        }
        DlqCommand::Replay { consumer } => {
            check_consumer(&consumer)?;
            let n = rt
                .block_on(ghostlink_bus::admin::dlq_replay(&amqp.amqp_url, &topo, &consumer))
                .map_err(|e| Failure::other(e.to_string()))?;
            eprintln!("republished {n} dead letter(s) of {consumer}");
        }
    }
    Ok(())
}

pub fn tail(amqp: &AmqpArgs, cmd: EventsCommand) -> Result<(), Failure> {
    let EventsCommand::Tail { kind } = cmd;
    let pattern = kind.unwrap_or_else(|| "#".into());
    if pattern.is_empty()
        || pattern.len() > 255
        || pattern.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Failure::usage("--type must be an event type or routing-key pattern"));
    }
    let topo = Topology::new(amqp.bus_prefix.clone());
    let rt = runtime()?;
    rt.block_on(async {
        let tail = ghostlink_bus::admin::tail(&amqp.amqp_url, &topo, &pattern, |_, payload| {
            println!("{}", String::from_utf8_lossy(payload));
            true
        });
        tokio::select! {
            r = tail => r.map_err(|e| Failure::other(e.to_string())),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

pub fn risk(db: &DatabaseArgs, amqp: &AmqpArgs, cmd: RiskCommand) -> Result<(), Failure> {
    let RiskCommand::Rescore { all } = cmd;
    let pool = ghostlink_db::Db::new(&ghostlink_db::DbSettings {
        url: db.database_url.clone(),
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(60),
    });
    let publisher =
        ghostlink_bus::Publisher::new(amqp.amqp_url.clone(), Topology::new(amqp.bus_prefix.clone()));
    let rt = runtime()?;
    let mut after = 0i64;
    let mut total = 0usize;
    loop {
        let rows = ghostlink_db::links::for_rescore(&mut *pool.get()?, all, after, 1000)?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let events: Vec<ghostlink_bus::Outgoing> = rows
            .iter()
            .map(|r| {
                let env = ghostlink_proto::Envelope::new(
                    "ghostctl",
                    Some("ghostctl-risk-rescore".into()),
                    Utc::now(),
                    ghostlink_proto::LinkUpdated {
                        code: r.code.clone(),
                        url: r.url.clone(),
                        status: r.status,
                        expires_at: r.expires_at,
                        max_clicks: r.max_clicks,
                        updated_at: r.updated_at,
                    },
                );
                ghostlink_bus::Outgoing {
                    routing_key: <ghostlink_proto::LinkUpdated as ghostlink_proto::EventData>::TYPE.into(),
                    message_id: env.id.to_string(),
                    payload: env.to_bytes(),
                }
            })
            .collect();
        rt.block_on(publisher.publish(&ghostlink_bus::pack(&events, 100)))
            .map_err(|e| Failure::other(e.to_string()))?;
        total += events.len();
    }
    rt.block_on(publisher.close());
    eprintln!("asked the risk scorer to score {total} link(s) again");
    Ok(())
}

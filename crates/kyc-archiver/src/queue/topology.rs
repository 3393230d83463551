//! The RabbitMQ topology, declared idempotently by every worker and publisher.
//!
//! ```text
//!  publishers ──▶ <prefix>.work  (quorum, durable; x-delivery-limit → <prefix>.dead)
//!                     │ worker
//!     ┌───────────────┼──────────────────────┬─────────────────────┐
//!     ▼               ▼                      ▼                     ▼
//!   ack        <prefix>.retry.<d>      <prefix>.dead          <prefix>.parked
//!  (manifest   (classic durable,       (quorum: permanent     (quorum: configuration or
//!   stored)     TTL d, dead-letters     failures, invalid      account errors; replay
//!               back to .work)          messages)              after fixing the cause)
//! ```
//!
//! All queues are reached through the default exchange (routing key = queue name), so any
//! service can publish with nothing but a queue name.

use std::time::Duration;

use lapin::Channel;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// Queue names and retry delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Work queue requests are published to.
    pub work: String,
    /// Delay queues, shortest first: (name, delay).
    pub retries: Vec<(String, Duration)>,
    /// Dead-letter queue: permanent failures and invalid messages.
    pub dead: String,
    /// Parking queue: configuration or account errors.
    pub parked: String,
    /// Deliveries of one message before the broker dead-letters it (a message that crashes
    /// the worker every time must not loop forever).
    pub delivery_limit: u32,
}

/// Default `x-delivery-limit` of the work queue: a backstop far above the worker's own
/// crash-loop guard, since the broker also counts returns of messages that merely waited in a
/// crashed worker's prefetch window.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 100;

/// Default delays of the retry queues.
pub const DEFAULT_RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(900),
];

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_owned()))
}

impl Topology {
    /// Names under `prefix` (e.g. `kyc-archiver`) with the given retry delays.
    pub fn new(prefix: &str, retry_delays: &[Duration]) -> Self {
        Self {
            work: format!("{prefix}.work"),
            retries: retry_delays
                .iter()
                .map(|d| (format!("{prefix}.retry.{}s", d.as_secs().max(1)), *d))
                .collect(),
            dead: format!("{prefix}.dead"),
            parked: format!("{prefix}.parked"),
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
        }
    }

    /// The retry queue for a message that has been attempted `attempt` times (1-based):
    /// the delays grow with the attempts and stay at the longest.
    pub fn retry_queue(&self, attempt: u32) -> &str {
        let i = (attempt.saturating_sub(1) as usize).min(self.retries.len().saturating_sub(1));
        &self.retries[i].0
    }

    /// Every queue's name: work, dead, parked, then the retry queues shortest first.
    pub fn queues(&self) -> impl Iterator<Item = &str> {
        [&self.work, &self.dead, &self.parked]
            .into_iter()
            .map(String::as_str)
            .chain(self.retries.iter().map(|(name, _)| name.as_str()))
    }

    /// Declares every queue; safe to repeat (same arguments every time).
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let quorum = |extra: &[(&str, AMQPValue)]| {
            let mut args = FieldTable::default();
            args.insert(ShortString::from("x-queue-type"), text("quorum"));
            for (k, v) in extra {
                args.insert(ShortString::from((*k).to_owned()), v.clone());
            }
            args
        };
        channel
            .queue_declare(
                &self.work,
                durable,
                quorum(&[
                    (
                        "x-delivery-limit",
                        AMQPValue::LongInt(self.delivery_limit as i32),
                    ),
                    ("x-dead-letter-exchange", text("")),
                    ("x-dead-letter-routing-key", text(&self.dead)),
                ]),
            )
            .await?;
        channel
            .queue_declare(&self.dead, durable, quorum(&[]))
            .await?;
        channel
            .queue_declare(&self.parked, durable, quorum(&[]))
            .await?;
        for (name, delay) in &self.retries {
            let mut args = FieldTable::default();
            args.insert(
                ShortString::from("x-message-ttl"),
                AMQPValue::LongLongInt(delay.as_millis() as i64),
            );
            args.insert(ShortString::from("x-dead-letter-exchange"), text(""));
            args.insert(
                ShortString::from("x-dead-letter-routing-key"),
                text(&self.work),
            );
            channel.queue_declare(name, durable, args).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_names_every_queue_once() {
        let t = Topology::new("kyc", &DEFAULT_RETRY_DELAYS);
        let names: Vec<&str> = t.queues().collect();
        assert_eq!(
            names,
            [
                "kyc.work",
                "kyc.dead",
                "kyc.parked",
                "kyc.retry.10s",
                "kyc.retry.60s",
                "kyc.retry.300s",
                "kyc.retry.900s"
            ]
        );
    }

    #[test]
    fn retry_queues_grow_then_stay_at_the_longest_delay() {
        let t = Topology::new("kyc", &DEFAULT_RETRY_DELAYS);
        assert_eq!(t.work, "kyc.work");
        assert_eq!(t.retry_queue(1), "kyc.retry.10s");
        assert_eq!(t.retry_queue(2), "kyc.retry.60s");
        assert_eq!(t.retry_queue(4), "kyc.retry.900s");
        assert_eq!(t.retry_queue(40), "kyc.retry.900s");
        assert_eq!(t.retry_queue(0), "kyc.retry.10s");
    }
}

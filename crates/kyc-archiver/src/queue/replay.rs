//! `kyc-archiver queue replay`: moves messages from the dead-letter or parking queue back to
//! the work queue, once the cause is fixed. Each message is republished (confirmed) before it
//! is acknowledged on its source queue, so a crash mid-way duplicates at worst, never loses;
//! duplicates are harmless because archiving is idempotent.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use super::publish::{QueueError, confirm_channel, connect, publish};
use super::topology::Topology;
use super::worker::{H_ATTEMPT, H_CLASS, H_FAILED_AT, H_REASON};

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Messages moved to the work queue.
    pub moved: u64,
}

/// Moves up to `limit` messages from `from` to the work queue. The attempt counter is reset
/// and the last reason kept as `x-kyc-replayed-reason`.
pub async fn replay(
    amqp_url: &str,
    topology: &Topology,
    from: &str,
    limit: u64,
) -> Result<Replayed, QueueError> {
    let connection = connect(amqp_url).await?;
    let channel = confirm_channel(&connection).await?;
    topology.declare(&channel).await?;
    let mut done = Replayed::default();
    while done.moved < limit {
        let Some(message) = channel.basic_get(from, BasicGetOptions::default()).await? else {
            break;
        };
        let delivery = message.delivery;
        let mut headers: FieldTable = delivery.properties.headers().clone().unwrap_or_default();
        let mut kept = FieldTable::default();
        for (k, v) in headers.inner() {
            match k.as_str() {
                H_ATTEMPT | H_CLASS | H_FAILED_AT => {}
                H_REASON => kept.insert(ShortString::from("x-kyc-replayed-reason"), v.clone()),
                _ => kept.insert(k.clone(), v.clone()),
            }
        }
        headers = kept;
        headers.insert(
            ShortString::from("x-kyc-replayed-from"),
            AMQPValue::LongString(LongString::from(from.to_owned())),
        );
        match publish(&channel, &topology.work, &delivery.data, headers).await {
            Ok(()) => {
                delivery.ack(BasicAckOptions::default()).await?;
                done.moved += 1;
            }
            Err(e) => {
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await;
                return Err(e);
            }
        }
    }
    let _ = channel.close(200, "replay done").await;
    let _ = connection.close(200, "replay done").await;
    Ok(done)
}

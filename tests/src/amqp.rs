//! Reading and cleaning the real broker's queues from tests.

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeleteOptions};
use lapin::types::AMQPValue;
use lapin::{Channel, Connection, ConnectionProperties};

/// A connection and channel to the test broker.
#[derive(Debug)]
pub struct Broker {
    /// The connection.
    pub connection: Connection,
    /// A channel on it.
    pub channel: Channel,
}

/// A message taken from a queue.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The body.
    pub body: Vec<u8>,
    /// String and integer headers, rendered as strings.
    pub headers: std::collections::BTreeMap<String, String>,
}

impl Broker {
    /// Connects to `KYC_TEST_AMQP_URL`.
    pub async fn connect() -> Self {
        let props = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        let connection = Connection::connect(&crate::amqp_url(), props)
            .await
            .expect("connect to the test broker");
        let channel = connection.create_channel().await.unwrap();
        Self {
            connection,
            channel,
        }
    }

    /// Takes (and acknowledges) every message of `queue` available now.
    pub async fn drain(&self, queue: &str) -> Vec<Taken> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(queue, BasicGetOptions::default())
            .await
            .unwrap()
        {
            let headers = m
                .delivery
                .properties
                .headers()
                .as_ref()
                .map(|h| {
                    h.inner()
                        .iter()
                        .map(|(k, v)| {
                            let v = match v {
                                AMQPValue::LongString(s) => s.to_string(),
                                AMQPValue::ShortString(s) => s.to_string(),
                                AMQPValue::LongLongInt(n) => n.to_string(),
                                AMQPValue::LongInt(n) => n.to_string(),
                                other => format!("{other:?}"),
                            };
                            (k.to_string(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Taken {
                body: m.delivery.data.clone(),
                headers,
            });
            m.delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
        out
    }

    /// Messages ready in `queue` (passive declare).
    pub async fn count(&self, queue: &str) -> u32 {
        let q = self
            .channel
            .queue_declare(
                queue,
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("queue {queue} does not exist: {e}"));
        q.message_count()
    }

    /// Deletes every queue of the topology under `prefix`.
    pub async fn delete_topology(&self, topology: &kyc_archiver::queue::Topology) {
        for name in topology.queues() {
            let _ = self
                .channel
                .queue_delete(name, QueueDeleteOptions::default())
                .await;
        }
    }
}

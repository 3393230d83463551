//! Publishing with publisher confirms: a publish returns only once the broker has the
//! message (persistent, on a durable queue) or says it does not.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// Why a publish or a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Connecting, declaring or publishing failed at the AMQP level.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused (nacked) the message.
    #[error("the broker refused the message (nack)")]
    Nacked,
}

impl QueueError {
    /// Whether the broker refused a declaration because the queue exists with other
    /// arguments (PRECONDITION_FAILED): a configuration error that retrying cannot fix.
    pub fn is_topology_conflict(&self) -> bool {
        use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
        matches!(
            self,
            Self::Amqp(lapin::Error::ProtocolError(e))
                if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED))
        )
    }
}

/// Connects with the tokio executor and reactor.
pub async fn connect(url: &str) -> Result<Connection, QueueError> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name("kyc-archiver".into());
    Ok(Connection::connect(url, properties).await?)
}

/// A channel in confirm mode.
pub async fn confirm_channel(connection: &Connection) -> Result<Channel, QueueError> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Publishes `body` to `queue` through the default exchange, persistent, JSON, with
/// `headers`, and waits for the broker's confirm.
pub async fn publish(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    headers: FieldTable,
) -> Result<(), QueueError> {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    let confirm = channel
        .basic_publish(
            "",
            queue,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        // A returned message (mandatory, no such queue) comes back as Ack(Some(returned)).
        Confirmation::Ack(Some(_)) | Confirmation::Nack(_) => Err(QueueError::Nacked),
    }
}

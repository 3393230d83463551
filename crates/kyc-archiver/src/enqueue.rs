//! `kyc-archiver enqueue`: publish archive requests, one or many (CSV or JSON lines, for
//! backfills), with publisher confirms. Invalid rows are reported with their line number and
//! never published.

use std::collections::BTreeMap;
use std::io::BufRead;

use evidence::message::{ArchiveRequestV1, MessageError};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;

use crate::queue::{QueueError, Topology, confirm_channel, connect};

/// Publishes at most this many messages ahead of their confirms.
const CONFIRM_WINDOW: usize = 256;

/// A request read from a file, or why its line is unusable.
pub type Row = (usize, Result<ArchiveRequestV1, MessageError>);

/// Reads JSON lines: one message per line; blank lines and `#` comments are skipped.
pub fn read_jsonl(reader: impl BufRead) -> Vec<Row> {
    reader
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = match line {
                Ok(l) => l,
                Err(e) => return Some((i + 1, Err(MessageError::NotJson(e.to_string())))),
            };
            let trimmed = line.trim();
            (!trimmed.is_empty() && !trimmed.starts_with('#'))
                .then(|| (i + 1, ArchiveRequestV1::parse(trimmed.as_bytes())))
        })
        .collect()
}

/// Reads CSV with a header row naming message fields (`transaction_id`, `merchant_biz_id`,
/// `completed_at`, `product`, `document_type`, `merchant_user_ref`, `legal_hold`, `retention`;
/// any other column becomes a label). Empty cells are absent fields.
pub fn read_csv(reader: impl std::io::Read) -> Vec<Row> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![(
                1,
                Err(MessageError::Invalid(format!("unreadable csv header: {e}"))),
            )];
        }
    };
    csv.records()
        .enumerate()
        .map(|(i, record)| {
            let line = i + 2;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    return (
                        line,
                        Err(MessageError::Invalid(format!("unreadable csv row: {e}"))),
                    );
                }
            };
            let mut object = serde_json::Map::new();
            object.insert("version".to_owned(), 1.into());
            let mut labels = BTreeMap::new();
            for (name, value) in headers.iter().zip(record.iter()) {
                if value.is_empty() {
                    continue;
                }
                let value = match name {
                    "legal_hold" => serde_json::Value::Bool(matches!(
                        value.to_ascii_lowercase().as_str(),
                        "true" | "yes" | "1" | "y"
                    )),
                    "transaction_id" | "merchant_biz_id" | "completed_at" | "product"
                    | "document_type" | "merchant_user_ref" | "retention" => value.into(),
                    label => {
                        labels.insert(label.to_owned(), value.to_owned());
                        continue;
                    }
                };
                object.insert(name.to_owned(), value);
            }
            if !labels.is_empty() {
                object.insert(
                    "labels".to_owned(),
                    serde_json::to_value(labels).expect("labels serialise"),
                );
            }
            let body = serde_json::to_vec(&object).expect("object serialises");
            (line, ArchiveRequestV1::parse(&body))
        })
        .collect()
}

/// Publishes every request to the work queue, `CONFIRM_WINDOW` at a time, and returns how
/// many the broker confirmed. `on_confirmed` is called after each confirm.
pub async fn publish_all(
    amqp_url: &str,
    topology: &Topology,
    requests: &[ArchiveRequestV1],
    mut on_confirmed: impl FnMut(),
) -> Result<u64, QueueError> {
    let connection = connect(amqp_url).await?;
    let channel = confirm_channel(&connection).await?;
    topology.declare(&channel).await?;
    let mut pending = FuturesUnordered::new();
    let mut confirmed = 0u64;
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(FieldTable::default());
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    for request in requests {
        if pending.len() >= CONFIRM_WINDOW {
            settle(pending.next().await, &mut confirmed, &mut on_confirmed)?;
        }
        let confirm = channel
            .basic_publish(
                "",
                &topology.work,
                options,
                &request.to_json(),
                properties.clone(),
            )
            .await?;
        pending.push(confirm);
    }
    while let Some(next) = pending.next().await {
        settle(Some(next), &mut confirmed, &mut on_confirmed)?;
    }
    let _ = channel.close(200, "enqueue done").await;
    let _ = connection.close(200, "enqueue done").await;
    Ok(confirmed)
}

fn settle(
    next: Option<Result<Confirmation, lapin::Error>>,
    confirmed: &mut u64,
    on_confirmed: &mut impl FnMut(),
) -> Result<(), QueueError> {
    match next {
        Some(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => {
            *confirmed += 1;
            on_confirmed();
            Ok(())
        }
        Some(Ok(_)) => Err(QueueError::Nacked),
        Some(Err(e)) => Err(e.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_messages_and_bad_rows_name_their_line() {
        let text = "transaction_id,merchant_biz_id,completed_at,product,team\n\
                    tx1,M1,2026-11-21T10:00:00Z,eKYC,onboarding\n\
                    tx2,M-2,,,\n\
                    tx3,M3,,ID_OCR,\n";
        let rows = read_csv(text.as_bytes());
        assert_eq!(rows.len(), 3);
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(first.product.as_deref(), Some("eKYC"));
        assert_eq!(
            first.labels.get("team").map(String::as_str),
            Some("onboarding")
        );
        assert_eq!(rows[1].0, 3);
        assert!(
            rows[1]
                .1
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("merchant_biz_id")
        );
        assert_eq!(rows[2].1.as_ref().unwrap().completed_at, None);
    }

    #[test]
    fn jsonl_skips_blank_and_comment_lines() {
        let text = "# backfill\n{\"version\":1,\"transaction_id\":\"a\",\"merchant_biz_id\":\"M\"}\n\n{\"version\":3}\n";
        let rows = read_jsonl(text.as_bytes());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert!(rows[0].1.is_ok());
        assert_eq!(rows[1].0, 4);
        assert!(rows[1].1.is_err());
    }
}

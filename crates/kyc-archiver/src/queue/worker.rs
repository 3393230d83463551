//! The worker: consume archive requests, archive deadline-first, dispose of every message.
//!
//! Contract (MUST / SHOULD):
//! - MUST acknowledge a message only after its manifest is stored (or found stored and
//!   checked), or after the message was confirmed by the broker on another queue.
//! - MUST NOT drop a message: every failure path publishes it elsewhere (with publisher
//!   confirms) before acknowledging, or leaves it unacknowledged for redelivery.
//! - MUST dead-letter invalid messages and permanent failures, with the reason in headers.
//! - MUST park configuration or account failures (bad keys, access denied) and raise an
//!   alarm, instead of burning through the queue.
//! - SHOULD retry transient failures in process, then through delay queues of growing TTL.
//! - SHOULD process the requests whose video is deleted soonest first, within the prefetch
//!   window.
//! - MUST NOT crash forever on one request: a redelivered request whose unfinished attempts
//!   (evidence stored, never committed) exceed what its failed attempts explain by
//!   `crash_limit` runs alone; if it stops the worker again, it is dead-lettered with class
//!   `crash_loop`. Requests that were merely in flight beside it complete when they run
//!   alone. The broker's `x-delivery-limit` is only a backstop: it also counts returns of
//!   messages that merely waited in a killed worker's prefetch window.
//! - On shutdown, SHOULD finish in-flight work within the grace period and return what was
//!   not started to the queue.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cloudauth::ErrorClass;
use evidence::deadline;
use evidence::message::ArchiveRequestV1;
use futures::StreamExt as _;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::publish::{QueueError, confirm_channel, connect, publish};
use super::topology::Topology;
use crate::metrics as m;
use crate::pipeline::{ArchiveRequest, Archiver, Outcome};

/// Header: why the message was moved.
pub const H_REASON: &str = "x-kyc-reason";
/// Header: the error class (`retry_soon`, `retry_later`, `permanent`, `configuration`,
/// `invalid_message`, `retries_exhausted`, `crash_loop`).
pub const H_CLASS: &str = "x-kyc-error-class";
/// Header: archive attempts made so far.
pub const H_ATTEMPT: &str = "x-kyc-attempt";
/// Header: when the last attempt failed (RFC 3339).
pub const H_FAILED_AT: &str = "x-kyc-failed-at";
/// Header: when a worker first received the message (RFC 3339).
pub const H_FIRST_SEEN: &str = "x-kyc-first-seen-at";

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Broker URL.
    pub amqp_url: String,
    /// Queue names.
    pub topology: Topology,
    /// Archive requests processed at once.
    pub concurrency: usize,
    /// Unacknowledged deliveries held (the deadline-first window); at least `concurrency`.
    pub prefetch: u16,
    /// How long in-flight work may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Attempts (through delay queues) before a message is dead-lettered.
    pub max_attempts: u32,
    /// Retries of retry-soon failures inside one attempt.
    pub in_process_retries: u32,
    /// Unexplained unfinished attempts after which a redelivered request runs alone; one more
    /// makes it a crash loop (dead-lettered). 0 disables the guard.
    pub crash_limit: u32,
}

impl WorkerSettings {
    /// Defaults for `amqp_url`: prefix `kyc-archiver`, 8 at once, prefetch 32, 60 s grace,
    /// 12 attempts, 2 in-process retries, crash limit 5.
    pub fn new(amqp_url: impl Into<String>) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            topology: Topology::new("kyc-archiver", &super::topology::DEFAULT_RETRY_DELAYS),
            concurrency: 8,
            prefetch: 32,
            shutdown_grace: Duration::from_secs(60),
            max_attempts: 12,
            in_process_retries: 2,
            crash_limit: 5,
        }
    }
}

/// Liveness shared with the HTTP endpoints.
#[derive(Debug, Default)]
pub struct WorkerState {
    connected: AtomicBool,
}

impl WorkerState {
    /// Whether the worker is connected and consuming.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn set_connected(&self, yes: bool) {
        self.connected.store(yes, Ordering::Relaxed);
        metrics::gauge!(m::BROKER_CONNECTED).set(if yes { 1.0 } else { 0.0 });
    }
}

/// A delivery waiting for a worker, ordered deadline-first.
struct Pending {
    /// 0: the video is still alive (ordered by deletion time); 1: unknown or gone (FIFO).
    urgency: u8,
    deletes_at_ms: i64,
    seq: u64,
    delivery: Delivery,
    request: ArchiveRequestV1,
}

impl Pending {
    fn key(&self) -> (u8, i64, u64) {
        (self.urgency, self.deletes_at_ms, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Reversed: the max-heap pops the smallest key (most urgent) first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.key().cmp(&self.key())
    }
}

/// The urgency key of a request received at `now`.
pub fn urgency(completed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (u8, i64) {
    match completed_at.map(deadline::video_deleted_at) {
        Some(deletes_at) if deletes_at > now => (0, deletes_at.timestamp_millis()),
        _ => (1, 0),
    }
}

#[derive(Default)]
struct Scheduler {
    heap: Mutex<BinaryHeap<Pending>>,
    notify: Notify,
    closed: AtomicBool,
    seq: AtomicU64,
}

impl Scheduler {
    fn push(&self, delivery: Delivery, request: ArchiveRequestV1) {
        let (urgency, deletes_at_ms) = urgency(request.completed_at, Utc::now());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.heap.lock().expect("scheduler lock").push(Pending {
            urgency,
            deletes_at_ms,
            seq,
            delivery,
            request,
        });
        self.notify.notify_one();
    }

    async fn pop(&self) -> Option<Pending> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(p) = self.heap.lock().expect("scheduler lock").pop() {
                return Some(p);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    /// Stops handing out work; returns what was never started.
    fn close(&self) -> Vec<Pending> {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
        std::mem::take(&mut *self.heap.lock().expect("scheduler lock")).into_vec()
    }
}

enum Disposition {
    Ack(&'static str),
    Move {
        queue: String,
        class: &'static str,
        reason: String,
        outcome: &'static str,
    },
}

fn header_str(delivery: &Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

fn header_u32(delivery: &Delivery, name: &str) -> u32 {
    let Some(headers) = delivery.properties.headers().as_ref() else {
        return 0;
    };
    match headers.inner().get(name) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => *n,
        _ => 0,
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_owned()))
}

/// Moves `delivery` to `queue` with the reason headers, then acknowledges it. If the broker
/// does not confirm the move, the delivery is returned to its queue instead (never lost).
async fn move_to(
    publisher: &Channel,
    delivery: &Delivery,
    queue: &str,
    class: &str,
    reason: &str,
    attempt: u32,
) -> Result<(), QueueError> {
    let mut headers: FieldTable = delivery.properties.headers().clone().unwrap_or_default();
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if header_str(delivery, H_FIRST_SEEN).is_none() {
        headers.insert(ShortString::from(H_FIRST_SEEN), text(&now));
    }
    headers.insert(ShortString::from(H_REASON), text(reason));
    headers.insert(ShortString::from(H_CLASS), text(class));
    headers.insert(
        ShortString::from(H_ATTEMPT),
        AMQPValue::LongLongInt(i64::from(attempt)),
    );
    headers.insert(ShortString::from(H_FAILED_AT), text(&now));
    match publish(publisher, queue, &delivery.data, headers).await {
        Ok(()) => {
            delivery.ack(BasicAckOptions::default()).await?;
            Ok(())
        }
        Err(e) => {
            tracing::error!(queue, error = %e, "could not move a message; returning it to its queue");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
            Err(e)
        }
    }
}

fn to_archive_request(r: &ArchiveRequestV1) -> ArchiveRequest {
    ArchiveRequest {
        transaction_id: r.transaction_id.clone(),
        merchant_biz_id: r.merchant_biz_id.clone(),
        completed_at: r.completed_at,
        product: r.product.clone(),
        document_type: r.document_type.clone(),
        merchant_user_ref: r.merchant_user_ref.clone(),
        legal_hold: r.legal_hold,
        retention: r.retention_period(),
        labels: r.labels.clone(),
    }
}

struct Ctx {
    archiver: Archiver,
    settings: WorkerSettings,
    publisher: Channel,
    /// Requests suspected of crashing the worker run alone (write lock), so that a crash
    /// while they run convicts them and no innocent request in flight beside them.
    isolation: tokio::sync::RwLock<()>,
}

/// What a redelivered request's unfinished attempts say about it.
enum Suspicion {
    /// Nothing: archive it beside the others.
    None,
    /// As many crashes as the limit: archive it alone.
    Suspect,
    /// It crashed the worker again while running alone: dead-letter it.
    CrashLoop(Disposition),
}

impl Ctx {
    /// Judges a redelivered request by its unfinished attempts, beyond what its earlier,
    /// cleanly failed attempts explain. A worker killed mid-attempt leaves one for every
    /// request in flight, innocent or not: at the limit the request is only a suspect and runs
    /// alone; one more crash (which, alone, only it can have caused) convicts it.
    async fn suspicion(&self, transaction_id: &str, attempt: u32) -> Suspicion {
        let Ok(limit) = usize::try_from(self.settings.crash_limit) else {
            return Suspicion::None;
        };
        if limit == 0 {
            return Suspicion::None;
        }
        let unfinished = match self.archiver.unfinished_attempts(transaction_id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not count unfinished attempts; archiving anyway");
                return Suspicion::None;
            }
        };
        // Each earlier round through a retry queue may have left one directory per try.
        let explained =
            (attempt.saturating_sub(1) as usize) * (self.settings.in_process_retries as usize + 1);
        let crashes = unfinished.saturating_sub(explained);
        if crashes > limit {
            tracing::error!(
                alarm = true,
                unfinished,
                crashes,
                "request stopped the worker again while running alone: dead-lettering it"
            );
            Suspicion::CrashLoop(Disposition::Move {
                queue: self.settings.topology.dead.clone(),
                class: "crash_loop",
                reason: format!(
                    "{crashes} attempts stored evidence and never finished, the last while it ran alone (limit {limit}): the request crashes the worker; the cut-short attempts are kept until a replay archives it"
                ),
                outcome: "dead_lettered",
            })
        } else if crashes == limit {
            tracing::warn!(
                unfinished,
                crashes,
                "request was in flight at each of the last worker crashes: archiving it alone"
            );
            Suspicion::Suspect
        } else {
            Suspicion::None
        }
    }

    async fn decide(&self, request: &ArchiveRequestV1, attempt: u32) -> Disposition {
        let request = to_archive_request(request);
        let mut retries = 0;
        let mut delay = Duration::from_millis(500);
        let result = loop {
            let started = std::time::Instant::now();
            let result = self.archiver.archive(&request).await;
            match &result {
                Ok(report) if report.outcome == Outcome::Archived => {
                    metrics::histogram!(m::ARCHIVE_DURATION)
                        .record(started.elapsed().as_secs_f64());
                }
                Err(e)
                    if e.class() == ErrorClass::RetrySoon
                        && retries < self.settings.in_process_retries =>
                {
                    retries += 1;
                    metrics::counter!(m::RETRIES, "kind" => "in_process").increment(1);
                    tracing::warn!(error = %e, retry = retries, "transient failure, retrying in process");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    continue;
                }
                _ => {}
            }
            break result;
        };
        match result {
            Ok(report) => Disposition::Ack(match report.outcome {
                Outcome::Archived => "archived",
                Outcome::AlreadyArchived => "already_archived",
            }),
            Err(e) => {
                if let crate::pipeline::ArchiveError::Store(store) = &e {
                    let class = if store.is_retryable() {
                        "retryable"
                    } else {
                        "permanent"
                    };
                    metrics::counter!(m::STORE_ERRORS, "class" => class).increment(1);
                }
                let reason = e.to_string();
                let topology = &self.settings.topology;
                match e.class() {
                    ErrorClass::RetrySoon | ErrorClass::RetryLater
                        if attempt >= self.settings.max_attempts =>
                    {
                        Disposition::Move {
                            queue: topology.dead.clone(),
                            class: "retries_exhausted",
                            reason: format!("gave up after {attempt} attempts: {reason}"),
                            outcome: "dead_lettered",
                        }
                    }
                    class @ (ErrorClass::RetrySoon | ErrorClass::RetryLater) => {
                        metrics::counter!(m::RETRIES, "kind" => "delayed").increment(1);
                        Disposition::Move {
                            queue: topology.retry_queue(attempt).to_owned(),
                            class: if class == ErrorClass::RetrySoon {
                                "retry_soon"
                            } else {
                                "retry_later"
                            },
                            reason,
                            outcome: if class == ErrorClass::RetrySoon {
                                "retried"
                            } else {
                                "delayed"
                            },
                        }
                    }
                    ErrorClass::Permanent => Disposition::Move {
                        queue: topology.dead.clone(),
                        class: "permanent",
                        reason,
                        outcome: "dead_lettered",
                    },
                    ErrorClass::Configuration => {
                        tracing::error!(alarm = true, error = %reason, "configuration or account error: parking the message; fix the cause, then replay the parking queue");
                        Disposition::Move {
                            queue: topology.parked.clone(),
                            class: "configuration",
                            reason,
                            outcome: "parked",
                        }
                    }
                }
            }
        }
    }

    async fn handle(&self, pending: Pending) {
        let Pending {
            delivery, request, ..
        } = pending;
        let span = tracing::info_span!("request", transaction_id = %request.transaction_id, redelivered = delivery.redelivered);
        let attempt = header_u32(&delivery, H_ATTEMPT) + 1;
        metrics::gauge!(m::IN_FLIGHT).increment(1.0);
        let disposition = tracing::Instrument::instrument(
            async {
                let suspicion = if delivery.redelivered {
                    self.suspicion(&request.transaction_id, attempt).await
                } else {
                    Suspicion::None
                };
                match suspicion {
                    Suspicion::CrashLoop(d) => d,
                    Suspicion::Suspect => {
                        let _alone = self.isolation.write().await;
                        self.decide(&request, attempt).await
                    }
                    Suspicion::None => {
                        let _beside_others = self.isolation.read().await;
                        self.decide(&request, attempt).await
                    }
                }
            },
            span.clone(),
        )
        .await;
        metrics::gauge!(m::IN_FLIGHT).decrement(1.0);
        let result = match disposition {
            Disposition::Ack(outcome) => {
                metrics::counter!(m::REQUESTS, "outcome" => outcome).increment(1);
                delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(QueueError::from)
            }
            Disposition::Move {
                queue,
                class,
                reason,
                outcome,
            } => {
                let moved =
                    move_to(&self.publisher, &delivery, &queue, class, &reason, attempt).await;
                if moved.is_ok() {
                    metrics::counter!(m::REQUESTS, "outcome" => outcome).increment(1);
                    let kind = match class {
                        "configuration" => "parked",
                        "permanent" | "retries_exhausted" | "crash_loop" => "dead",
                        _ => "retry",
                    };
                    metrics::counter!(m::DISPOSITIONS, "queue" => kind).increment(1);
                    tracing::info!(parent: &span, queue = %queue, class, "message moved");
                }
                moved
            }
        };
        if let Err(e) = result {
            // The channel is gone: the broker redelivers the message, and the pipeline's
            // idempotency makes the second run harmless.
            tracing::warn!(parent: &span, error = %e, "could not settle the delivery; it will be redelivered");
        }
    }
}

enum SessionEnd {
    Shutdown,
    Lost(String),
}

/// Runs the worker until `shutdown` completes: connects (and reconnects with backoff),
/// declares the topology, consumes and archives. Returns an error only when retrying cannot
/// help: the broker refused the queue declarations (an existing queue has other arguments).
pub async fn run(
    archiver: Archiver,
    settings: WorkerSettings,
    state: Arc<WorkerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), QueueError> {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let mut delays = backon::BackoffBuilder::build(
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(15))
            .with_jitter()
            .without_max_times(),
    );
    loop {
        match session(&archiver, &settings, &state, &token).await {
            Ok(SessionEnd::Shutdown) => {
                state.set_connected(false);
                return Ok(());
            }
            Ok(SessionEnd::Lost(reason)) => {
                tracing::warn!(%reason, "broker connection lost, reconnecting")
            }
            Err(e) if e.is_topology_conflict() => {
                state.set_connected(false);
                tracing::error!(error = %e, "the broker refused the queue declarations: a queue exists with other arguments (e.g. queue.delivery_limit or the retry delays changed); use the old values, a policy, or a new queue.prefix");
                return Err(e);
            }
            Err(e) => tracing::warn!(error = %e, "broker unavailable, reconnecting"),
        }
        state.set_connected(false);
        let delay = delays.next().unwrap_or(Duration::from_secs(15));
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn session(
    archiver: &Archiver,
    settings: &WorkerSettings,
    state: &WorkerState,
    token: &CancellationToken,
) -> Result<SessionEnd, QueueError> {
    let connection = connect(&settings.amqp_url).await?;
    let channel = connection.create_channel().await?;
    settings.topology.declare(&channel).await?;
    channel
        .basic_qos(
            settings.prefetch.max(settings.concurrency as u16),
            BasicQosOptions::default(),
        )
        .await?;
    let publisher = confirm_channel(&connection).await?;
    let tag = format!("kyc-archiver-{}", uuid::Uuid::new_v4().simple());
    let mut consumer = channel
        .basic_consume(
            &settings.topology.work,
            &tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    metrics::counter!(m::BROKER_CONNECTS).increment(1);
    state.set_connected(true);
    tracing::info!(queue = %settings.topology.work, concurrency = settings.concurrency, prefetch = settings.prefetch, "consuming");

    let ctx = Arc::new(Ctx {
        archiver: archiver.clone(),
        settings: settings.clone(),
        publisher,
        isolation: tokio::sync::RwLock::new(()),
    });
    let scheduler = Arc::new(Scheduler::default());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        let (ctx, scheduler) = (Arc::clone(&ctx), Arc::clone(&scheduler));
        workers.spawn(async move {
            while let Some(pending) = scheduler.pop().await {
                ctx.handle(pending).await;
            }
        });
    }

    let end = loop {
        tokio::select! {
            () = token.cancelled() => break SessionEnd::Shutdown,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => match ArchiveRequestV1::parse(&delivery.data) {
                    Ok(request) => scheduler.push(delivery, request),
                    Err(e) => {
                        tracing::warn!(reason = %e, "invalid archive request, dead-lettering it");
                        let attempt = header_u32(&delivery, H_ATTEMPT);
                        if move_to(&ctx.publisher, &delivery, &settings.topology.dead, "invalid_message", &e.to_string(), attempt).await.is_ok() {
                            metrics::counter!(m::REQUESTS, "outcome" => "dead_lettered").increment(1);
                            metrics::counter!(m::DISPOSITIONS, "queue" => "dead").increment(1);
                        }
                    }
                },
                Some(Err(e)) => break SessionEnd::Lost(e.to_string()),
                None => break SessionEnd::Lost("the consumer was cancelled by the broker".to_owned()),
            },
        }
    };

    // Stop receiving, give back what was never started, let in-flight work finish.
    let _ = channel
        .basic_cancel(&tag, BasicCancelOptions::default())
        .await;
    for pending in scheduler.close() {
        let _ = pending
            .delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await;
        metrics::counter!(m::REQUESTS, "outcome" => "requeued").increment(1);
    }
    match end {
        SessionEnd::Shutdown => {
            let grace = settings.shutdown_grace;
            tracing::info!(
                in_flight = workers.len(),
                grace_secs = grace.as_secs(),
                "shutting down"
            );
            if tokio::time::timeout(grace, async {
                while workers.join_next().await.is_some() {}
            })
            .await
            .is_err()
            {
                tracing::warn!(
                    unfinished = workers.len(),
                    "grace period over; unfinished work returns to the queue"
                );
                workers.abort_all();
            }
            let _ = channel.close(200, "shutdown").await;
            let _ = connection.close(200, "shutdown").await;
        }
        SessionEnd::Lost(_) => {
            // In-flight work carries on in the background; its acks fail on the dead channel
            // and the broker redelivers, which the pipeline turns into "already archived".
            workers.detach_all();
        }
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_orders_live_videos_by_deletion_time_and_the_rest_fifo() {
        let now: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        let soon = urgency(Some("2026-11-21T09:35:00Z".parse().unwrap()), now);
        let later = urgency(Some("2026-11-21T09:50:00Z".parse().unwrap()), now);
        let gone = urgency(Some("2026-11-21T09:00:00Z".parse().unwrap()), now);
        let unknown = urgency(None, now);
        assert!(soon < later);
        assert!(later < gone);
        assert_eq!(gone, unknown);
    }
}

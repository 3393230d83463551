//! Prometheus metrics: every name the worker exports is declared here, with its help text, so
//! dashboards and alert rules can be checked against this list (`kyc-archiver metrics list`).

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Archive requests finished, by `outcome`: archived, already_archived, retried, delayed,
/// dead_lettered, parked, requeued.
pub const REQUESTS: &str = "kyc_archiver_requests_total";
/// CheckResult calls by `code` (`Success`, the service's error code, or `transport`).
pub const CHECKRESULT_CALLS: &str = "kyc_archiver_checkresult_calls_total";
/// Bytes written to the store, by `kind`: response, image, video.
pub const BYTES_ARCHIVED: &str = "kyc_archiver_bytes_archived_total";
/// Seconds from the start of an archive attempt to its committed manifest.
pub const ARCHIVE_DURATION: &str = "kyc_archiver_archive_duration_seconds";
/// Seconds left before the service deletes the video, when its download started.
pub const VIDEO_DEADLINE_SLACK: &str = "kyc_archiver_video_deadline_slack_seconds";
/// Videos by `fate`: archived, absent, deleted, refused, failed.
pub const VIDEOS: &str = "kyc_archiver_videos_total";
/// Retries by `kind`: in_process (retry soon), delayed (retry queue).
pub const RETRIES: &str = "kyc_archiver_retries_total";
/// Messages moved to another queue, by `queue`: retry, dead, parked.
pub const DISPOSITIONS: &str = "kyc_archiver_queue_dispositions_total";
/// Archive requests being processed now.
pub const IN_FLIGHT: &str = "kyc_archiver_in_flight";
/// Object store operations that failed, by `class`: retryable, permanent.
pub const STORE_ERRORS: &str = "kyc_archiver_store_errors_total";
/// 1 while the worker is connected to the broker and consuming.
pub const BROKER_CONNECTED: &str = "kyc_archiver_broker_connected";
/// Broker connections (re)established.
pub const BROKER_CONNECTS: &str = "kyc_archiver_broker_connects_total";

/// Every exported metric name.
pub const ALL: &[&str] = &[
    REQUESTS,
    CHECKRESULT_CALLS,
    BYTES_ARCHIVED,
    ARCHIVE_DURATION,
    VIDEO_DEADLINE_SLACK,
    VIDEOS,
    RETRIES,
    DISPOSITIONS,
    IN_FLIGHT,
    STORE_ERRORS,
    BROKER_CONNECTED,
    BROKER_CONNECTS,
];

/// Registers help texts and units with the installed recorder.
pub fn describe() {
    describe_counter!(REQUESTS, "Archive requests finished, by outcome");
    describe_counter!(CHECKRESULT_CALLS, "CheckResult calls by response code");
    describe_counter!(
        BYTES_ARCHIVED,
        Unit::Bytes,
        "Bytes written to the store, by kind"
    );
    describe_histogram!(
        ARCHIVE_DURATION,
        Unit::Seconds,
        "Time from the start of an archive attempt to its committed manifest"
    );
    describe_histogram!(
        VIDEO_DEADLINE_SLACK,
        Unit::Seconds,
        "Seconds left before video deletion when its download started"
    );
    describe_counter!(VIDEOS, "Videos by fate");
    describe_counter!(RETRIES, "Retries by kind");
    describe_counter!(DISPOSITIONS, "Messages moved to another queue, by queue");
    describe_gauge!(IN_FLIGHT, "Archive requests being processed");
    describe_counter!(STORE_ERRORS, "Failed object store operations, by class");
    describe_gauge!(
        BROKER_CONNECTED,
        "1 while connected to the broker and consuming"
    );
    describe_counter!(BROKER_CONNECTS, "Broker connections established");
}

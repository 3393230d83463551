//! The service's deadlines (reference §5 and the seeds).
//!
//! - a `docVideoUrl` is valid for 15 minutes from the `CheckResult` call that issued it;
//! - the evidence video is deleted 30 minutes after the verification completed;
//! - the whole result is deleted 30 days after the verification completed.

use chrono::{DateTime, Duration, Utc};

/// How long one `docVideoUrl` stays valid after the call that issued it.
pub const VIDEO_URL_TTL: Duration = Duration::minutes(15);
/// How long after completion the evidence video exists.
pub const VIDEO_LIFETIME: Duration = Duration::minutes(30);
/// How long after completion the verification result exists.
pub const RESULT_LIFETIME: Duration = Duration::days(30);

/// When the evidence video of a verification completed at `completed_at` is deleted.
pub fn video_deleted_at(completed_at: DateTime<Utc>) -> DateTime<Utc> {
    completed_at + VIDEO_LIFETIME
}

/// When the whole result of a verification completed at `completed_at` is deleted.
pub fn result_deleted_at(completed_at: DateTime<Utc>) -> DateTime<Utc> {
    completed_at + RESULT_LIFETIME
}

/// Time left before the video is deleted, negative once it is gone.
pub fn video_slack(now: DateTime<Utc>, completed_at: DateTime<Utc>) -> Duration {
    video_deleted_at(completed_at) - now
}

/// Whether the video may still exist at `now`; `None` when the completion time is unknown,
/// in which case the archiver must try and let the service answer.
pub fn video_may_exist(now: DateTime<Utc>, completed_at: Option<DateTime<Utc>>) -> Option<bool> {
    completed_at.map(|c| now < video_deleted_at(c))
}

/// Whether the result may still be fetched at `now`.
pub fn result_may_exist(now: DateTime<Utc>, completed_at: Option<DateTime<Utc>>) -> Option<bool> {
    completed_at.map(|c| now < result_deleted_at(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn video_deadline_is_thirty_minutes_after_completion() {
        let done = t("2026-01-01T10:00:00Z");
        assert_eq!(video_deleted_at(done), t("2026-01-01T10:30:00Z"));
        assert_eq!(
            video_slack(t("2026-01-01T10:05:00Z"), done),
            Duration::minutes(25)
        );
        assert_eq!(
            video_slack(t("2026-01-01T10:31:00Z"), done),
            Duration::minutes(-1)
        );
        assert_eq!(
            video_may_exist(t("2026-01-01T10:29:59Z"), Some(done)),
            Some(true)
        );
        assert_eq!(
            video_may_exist(t("2026-01-01T10:30:00Z"), Some(done)),
            Some(false)
        );
        assert_eq!(video_may_exist(t("2026-01-01T10:30:00Z"), None), None);
    }

    #[test]
    fn result_lives_thirty_days() {
        let done = t("2026-01-01T10:00:00Z");
        assert_eq!(result_deleted_at(done), t("2026-01-31T10:00:00Z"));
        assert_eq!(
            result_may_exist(t("2026-01-31T09:59:59Z"), Some(done)),
            Some(true)
        );
        assert_eq!(
            result_may_exist(t("2026-01-31T10:00:00Z"), Some(done)),
            Some(false)
        );
    }
}

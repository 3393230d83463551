//! Retention: how long a bundle must be kept, computed per record.
//!
//! Regulations count from an event (FATF R.11, EU AMLR, HK AMLO: at least 5 years), and data
//! protection law forbids keeping data forever, so the retain-until date is the record's
//! verification completion time (or its archive time when that is unknown) plus a period.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

/// S3 Object Lock mode applied to a bundle's objects.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LockMode {
    /// No object lock; retention is recorded but not enforced by the store.
    #[default]
    None,
    /// Deletable only by principals allowed to bypass governance retention.
    Governance,
    /// Nobody can delete or shorten until the retain-until date.
    Compliance,
}

impl std::str::FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "NONE" | "OFF" | "" => Ok(Self::None),
            "GOVERNANCE" => Ok(Self::Governance),
            "COMPLIANCE" => Ok(Self::Compliance),
            _ => Err(format!(
                "unknown object lock mode {s:?}: expected NONE, GOVERNANCE or COMPLIANCE"
            )),
        }
    }
}

/// A retention period in whole months (calendar-correct: 5 years from 29 February ends on
/// 28 February).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetentionPeriod {
    /// Number of months.
    pub months: u32,
}

impl RetentionPeriod {
    /// `years` whole years.
    pub const fn years(years: u32) -> Self {
        Self { months: years * 12 }
    }

    /// The end of the period that starts at `from`.
    pub fn end(self, from: DateTime<Utc>) -> DateTime<Utc> {
        from.checked_add_months(Months::new(self.months))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl std::str::FromStr for RetentionPeriod {
    type Err = String;
    /// Parses `5y`, `60m` / `60mo`, or a bare number of years.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u32 = num
            .parse()
            .map_err(|_| format!("invalid retention period {s:?}: expected e.g. 5y or 60mo"))?;
        let months = match unit.trim() {
            "" | "y" | "year" | "years" => n.checked_mul(12),
            "m" | "mo" | "month" | "months" => Some(n),
            _ => None,
        }
        .ok_or_else(|| format!("invalid retention period {s:?}: expected e.g. 5y or 60mo"))?;
        if months == 0 {
            return Err("retention period must be positive".to_owned());
        }
        Ok(Self { months })
    }
}

impl std::fmt::Display for RetentionPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.months.is_multiple_of(12) {
            write!(f, "{}y", self.months / 12)
        } else {
            write!(f, "{}mo", self.months)
        }
    }
}

/// The retention decided for one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Retention {
    /// Object Lock mode applied to every object of the bundle.
    pub mode: LockMode,
    /// Period the retain-until date was computed with.
    pub period: RetentionPeriod,
    /// End of retention: completion time (or archive time) plus the period.
    pub retain_until: DateTime<Utc>,
    /// Whether a legal hold was placed on the objects.
    pub legal_hold: bool,
}

impl Retention {
    /// Computes the retention of a record completed at `completed_at` (falling back to
    /// `archived_at` when unknown).
    pub fn compute(
        mode: LockMode,
        period: RetentionPeriod,
        legal_hold: bool,
        completed_at: Option<DateTime<Utc>>,
        archived_at: DateTime<Utc>,
    ) -> Self {
        Self {
            mode,
            period,
            retain_until: period.end(completed_at.unwrap_or(archived_at)),
            legal_hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print() {
        assert_eq!(
            "5y".parse::<RetentionPeriod>().unwrap(),
            RetentionPeriod::years(5)
        );
        assert_eq!(
            "7".parse::<RetentionPeriod>().unwrap(),
            RetentionPeriod::years(7)
        );
        assert_eq!("18mo".parse::<RetentionPeriod>().unwrap().months, 18);
        assert!("0y".parse::<RetentionPeriod>().is_err());
        assert!("5 weeks".parse::<RetentionPeriod>().is_err());
        assert_eq!(RetentionPeriod::years(5).to_string(), "5y");
        assert_eq!(RetentionPeriod { months: 18 }.to_string(), "18mo");
        assert_eq!(
            "compliance".parse::<LockMode>().unwrap(),
            LockMode::Compliance
        );
        assert!("forever".parse::<LockMode>().is_err());
    }

    #[test]
    fn retain_until_counts_from_completion_and_is_calendar_correct() {
        let done: DateTime<Utc> = "2024-02-29T12:00:00Z".parse().unwrap();
        let archived: DateTime<Utc> = "2024-03-01T00:00:00Z".parse().unwrap();
        let r = Retention::compute(
            LockMode::Compliance,
            RetentionPeriod::years(5),
            false,
            Some(done),
            archived,
        );
        assert_eq!(
            r.retain_until,
            "2029-02-28T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let r = Retention::compute(
            LockMode::None,
            RetentionPeriod::years(1),
            true,
            None,
            archived,
        );
        assert_eq!(
            r.retain_until,
            "2025-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(r.legal_hold);
    }
}

//! Fault injection per endpoint: errors, latency, slow or broken bodies.
//!
//! A [`FaultPlan`] has two parts:
//! - `script`: a FIFO list; each matching request takes the first step whose target matches,
//!   and a step with `times = n` applies to the next `n` matching requests, then disappears;
//! - `rules`: applied independently to every matching request with probability `rate`.
//!
//! Both can target one transaction id and/or one access key id (absent = every request).
//! On `checkresult`, faults are chosen after the gateway has authenticated the request (so
//! they only hit well-signed calls, like the real throttling); on `video`, after the URL has
//! been parsed and before its signature is checked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// An endpoint faults can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    /// `POST /` (CheckResult).
    #[serde(rename = "checkresult")]
    CheckResult,
    /// `GET /<bucket>/<transaction id>.webm` (the evidence video).
    #[serde(rename = "video")]
    Video,
}

impl Endpoint {
    /// The name used in paths and logs (`checkresult`, `video`).
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::CheckResult => "checkresult",
            Endpoint::Video => "video",
        }
    }

    /// Parses [`Endpoint::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "checkresult" => Some(Endpoint::CheckResult),
            "video" => Some(Endpoint::Video),
            _ => None,
        }
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// No fault (a script step that lets one request through).
    Pass,
    /// `checkresult`: 403 `Throttling.Api`; `video`: 503 `SlowDown`.
    Throttling,
    /// 500 `InternalError`.
    InternalError,
    /// 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// 403 `Forbidden.RAMUserAccessDenied` (`checkresult`; `AccessDenied` on `video`).
    RamUserAccessDenied,
    /// 403 `Forbidden.AccountAccessDenied` (`checkresult`; `AccessDenied` on `video`).
    AccountAccessDenied,
    /// Any error: HTTP `status` with `code` (and `message`, else a generic one).
    Error {
        /// HTTP status.
        status: u16,
        /// Error code in the body.
        code: String,
        /// Error message in the body.
        #[serde(default)]
        message: Option<String>,
    },
    /// Waits `delay` before answering.
    Latency {
        /// Added delay (`"250ms"`).
        #[serde(with = "humantime_serde")]
        delay: Duration,
    },
    /// Sends the body at `bytes_per_second`.
    SlowStream {
        /// Throughput limit.
        bytes_per_second: u64,
    },
    /// Sends `bytes` bytes of the body, then breaks the connection with an error.
    CutAfter {
        /// Bytes sent before the cut.
        bytes: u64,
    },
    /// Announces the full `Content-Length` but sends only `bytes` bytes, then ends the body.
    ShortBody {
        /// Bytes actually sent.
        bytes: u64,
    },
    /// Answers with this `Content-Type` instead of the right one.
    WrongContentType {
        /// The content type to send (default `text/html;charset=utf-8`).
        #[serde(default = "default_wrong_content_type")]
        content_type: String,
    },
}

fn default_wrong_content_type() -> String {
    "text/html;charset=utf-8".to_owned()
}

impl Fault {
    /// A short name for logs (`throttling`, `latency`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Throttling => "throttling",
            Fault::InternalError => "internal_error",
            Fault::ServiceUnavailable => "service_unavailable",
            Fault::RamUserAccessDenied => "ram_user_access_denied",
            Fault::AccountAccessDenied => "account_access_denied",
            Fault::Error { .. } => "error",
            Fault::Latency { .. } => "latency",
            Fault::SlowStream { .. } => "slow_stream",
            Fault::CutAfter { .. } => "cut_after",
            Fault::ShortBody { .. } => "short_body",
            Fault::WrongContentType { .. } => "wrong_content_type",
        }
    }
}

/// A probabilistic fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// Probability in `0..=1` that a matching request gets it.
    pub rate: f64,
    /// Only requests for this transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Only requests signed with this access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
}

/// A scripted fault: applied to the next `times` matching requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// The fault.
    pub fault: Fault,
    /// How many matching requests get it (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// Only requests for this transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Only requests signed with this access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
}

fn one() -> u32 {
    1
}

/// The faults of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// FIFO steps, consumed by matching requests.
    pub script: Vec<ScriptStep>,
    /// Probabilistic rules.
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// A plan applying `faults` in order, one per request (for every transaction).
    pub fn script(faults: impl IntoIterator<Item = Fault>) -> Self {
        Self {
            script: faults
                .into_iter()
                .map(|fault| ScriptStep {
                    fault,
                    times: 1,
                    transaction_id: None,
                    access_key_id: None,
                })
                .collect(),
            rules: Vec::new(),
        }
    }

    /// A plan applying `fault` to every request with probability `rate`.
    pub fn rate(fault: Fault, rate: f64) -> Self {
        Self {
            script: Vec::new(),
            rules: vec![FaultRule {
                fault,
                rate,
                transaction_id: None,
                access_key_id: None,
            }],
        }
    }

    /// Restricts every step and rule to `transaction_id`.
    pub fn for_transaction(mut self, transaction_id: &str) -> Self {
        for s in &mut self.script {
            s.transaction_id = Some(transaction_id.to_owned());
        }
        for r in &mut self.rules {
            r.transaction_id = Some(transaction_id.to_owned());
        }
        self
    }

    /// Restricts every step and rule to `access_key_id`.
    pub fn for_access_key(mut self, access_key_id: &str) -> Self {
        for s in &mut self.script {
            s.access_key_id = Some(access_key_id.to_owned());
        }
        for r in &mut self.rules {
            r.access_key_id = Some(access_key_id.to_owned());
        }
        self
    }

    /// Checks rates.
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.rules {
            if !(0.0..=1.0).contains(&r.rate) {
                return Err(format!("fault rate {} is outside 0..=1", r.rate));
            }
        }
        Ok(())
    }

    /// Whether nothing is left to apply.
    pub fn is_empty(&self) -> bool {
        self.script.is_empty() && self.rules.is_empty()
    }
}

fn matches(want: &Option<String>, have: Option<&str>) -> bool {
    want.as_deref().is_none_or(|w| have == Some(w))
}

/// The combined effect of the faults chosen for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    /// An error response to send instead of the normal one (the first chosen error wins).
    pub error: Option<Fault>,
    pub latency: Duration,
    pub bytes_per_second: Option<u64>,
    pub cut_after: Option<u64>,
    pub short_body: Option<u64>,
    pub content_type: Option<String>,
    /// Names of the applied faults, for the request log.
    pub names: Vec<&'static str>,
}

impl Effects {
    fn add(&mut self, fault: Fault) {
        self.names.push(fault.name());
        match fault {
            Fault::Pass => {}
            Fault::Latency { delay } => self.latency += delay,
            Fault::SlowStream { bytes_per_second } => {
                self.bytes_per_second = Some(bytes_per_second.max(1))
            }
            Fault::CutAfter { bytes } => self.cut_after = Some(bytes),
            Fault::ShortBody { bytes } => self.short_body = Some(bytes),
            Fault::WrongContentType { content_type } => self.content_type = Some(content_type),
            error => {
                if self.error.is_none() {
                    self.error = Some(error);
                }
            }
        }
    }

    /// Whether the body must be streamed through a fault wrapper.
    pub fn alters_body(&self) -> bool {
        self.bytes_per_second.is_some() || self.cut_after.is_some() || self.short_body.is_some()
    }

    /// The applied faults as one string (`throttling+latency`), or `None`.
    pub fn label(&self) -> Option<String> {
        let names: Vec<&str> = self
            .names
            .iter()
            .copied()
            .filter(|n| *n != "pass")
            .collect();
        (!names.is_empty()).then(|| names.join("+"))
    }
}

/// The fault plans of all endpoints.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    plans: Mutex<HashMap<Endpoint, FaultPlan>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Endpoint, FaultPlan>> {
        self.plans.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, endpoint: Endpoint, plan: FaultPlan) {
        let mut plans = self.lock();
        if plan.is_empty() {
            plans.remove(&endpoint);
        } else {
            plans.insert(endpoint, plan);
        }
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn get(&self, endpoint: Endpoint) -> FaultPlan {
        self.lock().get(&endpoint).cloned().unwrap_or_default()
    }

    pub(crate) fn all(&self) -> HashMap<Endpoint, FaultPlan> {
        self.lock().clone()
    }

    /// Chooses the faults for one request (consuming a script step if one matches).
    pub(crate) fn select(
        &self,
        endpoint: Endpoint,
        transaction_id: Option<&str>,
        access_key_id: Option<&str>,
    ) -> Effects {
        let mut effects = Effects::default();
        let mut plans = self.lock();
        let Some(plan) = plans.get_mut(&endpoint) else {
            return effects;
        };
        let hit = plan.script.iter().position(|s| {
            matches(&s.transaction_id, transaction_id) && matches(&s.access_key_id, access_key_id)
        });
        if let Some(i) = hit {
            let step = &mut plan.script[i];
            effects.add(step.fault.clone());
            step.times = step.times.saturating_sub(1);
            if step.times == 0 {
                plan.script.remove(i);
            }
        }
        if !plan.rules.is_empty() {
            let mut rng = rand::thread_rng();
            for rule in &plan.rules {
                if matches(&rule.transaction_id, transaction_id)
                    && matches(&rule.access_key_id, access_key_id)
                    && rng.gen_bool(rule.rate.clamp(0.0, 1.0))
                {
                    effects.add(rule.fault.clone());
                }
            }
        }
        if plan.is_empty() {
            plans.remove(&endpoint);
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_fifo_and_targeted() {
        let faults = Faults::default();
        let mut plan = FaultPlan::script([Fault::Throttling, Fault::InternalError]);
        plan.script.insert(
            0,
            ScriptStep {
                fault: Fault::ServiceUnavailable,
                times: 2,
                transaction_id: Some("a".into()),
                access_key_id: None,
            },
        );
        faults.set(Endpoint::CheckResult, plan);
        assert_eq!(
            faults.select(Endpoint::Video, Some("a"), None),
            Effects::default()
        );
        let e = faults.select(Endpoint::CheckResult, Some("b"), None);
        assert_eq!(e.error, Some(Fault::Throttling));
        let e = faults.select(Endpoint::CheckResult, Some("a"), None);
        assert_eq!(e.error, Some(Fault::ServiceUnavailable));
        let e = faults.select(Endpoint::CheckResult, Some("a"), None);
        assert_eq!(e.error, Some(Fault::ServiceUnavailable));
        let e = faults.select(Endpoint::CheckResult, Some("a"), None);
        assert_eq!(e.error, Some(Fault::InternalError));
        assert_eq!(
            faults.select(Endpoint::CheckResult, Some("a"), None).error,
            None
        );
        assert!(faults.all().is_empty());
    }

    #[test]
    fn rates_zero_and_one() {
        let faults = Faults::default();
        let mut plan = FaultPlan::rate(
            Fault::Latency {
                delay: Duration::from_millis(5),
            },
            1.0,
        );
        plan.rules.push(FaultRule {
            fault: Fault::InternalError,
            rate: 0.0,
            transaction_id: None,
            access_key_id: None,
        });
        faults.set(Endpoint::Video, plan);
        for _ in 0..20 {
            let e = faults.select(Endpoint::Video, None, None);
            assert_eq!(e.latency, Duration::from_millis(5));
            assert_eq!(e.error, None);
        }
        assert!(FaultPlan::rate(Fault::Pass, 1.5).validate().is_err());
    }

    #[test]
    fn plans_parse_from_json() {
        let plan: FaultPlan = serde_json::from_str(
            r#"{"script":[{"fault":{"kind":"throttling"},"times":2},{"fault":{"kind":"latency","delay":"1s"}}],
                "rules":[{"fault":{"kind":"cut_after","bytes":10},"rate":0.5,"transaction_id":"t"}]}"#,
        )
        .unwrap();
        assert_eq!(plan.script[0].times, 2);
        assert_eq!(
            plan.script[1].fault,
            Fault::Latency {
                delay: Duration::from_secs(1)
            }
        );
        assert_eq!(plan.rules[0].transaction_id.as_deref(), Some("t"));
        let wrong: Fault = serde_json::from_str(r#"{"kind":"wrong_content_type"}"#).unwrap();
        assert_eq!(
            wrong,
            Fault::WrongContentType {
                content_type: "text/html;charset=utf-8".into()
            }
        );
    }
}

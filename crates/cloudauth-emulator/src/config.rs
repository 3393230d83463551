//! Emulator configuration, from Rust or a TOML scenario file.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::clock::ClockConfig;
use crate::faults::FaultPlan;
use crate::verification::VerificationSpec;

/// An access key pair the gateway accepts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// Access key id.
    pub id: String,
    /// Access key secret.
    pub secret: String,
    /// When set, the key is an STS key: every request must carry exactly this token
    /// (V3 `x-acs-security-token`, V2 `SecurityToken`).
    #[serde(default)]
    pub security_token: Option<String>,
}

impl AccessKey {
    /// A long-term key pair.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            security_token: None,
        }
    }

    /// An STS key: `id`/`secret` plus the token every request must carry.
    pub fn sts(id: impl Into<String>, secret: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            security_token: Some(token.into()),
        }
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Fault plans applied from start-up (the `[faults.checkresult]` / `[faults.video]` tables).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsConfig {
    /// Faults of `POST /`.
    pub checkresult: Option<FaultPlan>,
    /// Faults of the video endpoint.
    pub video: Option<FaultPlan>,
}

/// Everything the emulator needs to start. [`Default`] accepts the key pair
/// `testid` / `testsecret`, checks timestamps, and has no verifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Accepted access keys.
    pub access_keys: Vec<AccessKey>,
    /// Reject requests whose `x-acs-date` / `Timestamp` is more than 15 minutes away from the
    /// emulator clock (`InvalidTimeStamp.Expired`). Turn off when the clock is accelerated or
    /// shifted and clients sign with real time.
    pub check_timestamps: bool,
    /// Initial clock settings.
    pub clock: ClockConfig,
    /// Verifications present at start-up.
    pub verifications: Vec<VerificationSpec>,
    /// Endpoint host reported as `HostId` in gateway errors.
    pub region_host: String,
    /// Bucket of the evidence videos (first path segment of `docVideoUrl`).
    pub bucket: String,
    /// `HostId` of OSS errors; default `<bucket>.oss-cn-hongkong.aliyuncs.com`.
    pub oss_host_id: Option<String>,
    /// Key pair the emulator signs video URLs with (the service's own OSS key, not a client's).
    pub oss_access_key: AccessKey,
    /// Base of `docVideoUrl` (e.g. `http://emulator:8787`); default `http://<bound address>`,
    /// or the request's `Host` when bound to an unspecified address.
    pub public_base_url: Option<String>,
    /// Entries kept in the request log.
    pub request_log_capacity: usize,
    /// Serve the `/admin/` API to non-loopback peers too (default: loopback only).
    pub admin_allow_remote: bool,
    /// Fault plans applied from start-up.
    pub faults: FaultsConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            access_keys: vec![AccessKey::new("testid", "testsecret")],
            check_timestamps: true,
            clock: ClockConfig::default(),
            verifications: Vec::new(),
            region_host: "cloudauth-intl.cn-hongkong.aliyuncs.com".to_owned(),
            bucket: "cloudauth-evidence".to_owned(),
            oss_host_id: None,
            oss_access_key: AccessKey::new("LTAI5tEmulatorOssKeyId", "emulator-oss-secret"),
            public_base_url: None,
            request_log_capacity: 100_000,
            admin_allow_remote: false,
            faults: FaultsConfig::default(),
        }
    }
}

impl EmulatorConfig {
    /// Reads a TOML scenario file (see `examples/scenarios.toml`).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Parses a TOML scenario.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        let config: Self = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that do not depend on the clock.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.access_keys.is_empty() {
            return bad("no access keys configured".into());
        }
        for (i, k) in self.access_keys.iter().enumerate() {
            if k.id.is_empty() || k.secret.is_empty() {
                return bad(format!("access key #{i} has an empty id or secret"));
            }
            if self.access_keys[..i].iter().any(|o| o.id == k.id) {
                return bad(format!("access key id {:?} is configured twice", k.id));
            }
        }
        let bucket_ok = (3..=63).contains(&self.bucket.len())
            && self
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && self.bucket != "admin";
        if !bucket_ok {
            return bad(format!(
                "bucket {:?} must be 3..=63 characters of [a-z0-9-] and not \"admin\"",
                self.bucket
            ));
        }
        if self.oss_access_key.id.is_empty() || self.oss_access_key.secret.is_empty() {
            return bad("oss_access_key needs an id and a secret".into());
        }
        if !(self.clock.speed.is_finite() && self.clock.speed >= 0.0) {
            return bad(format!(
                "clock speed {} must be a finite number >= 0",
                self.clock.speed
            ));
        }
        for plan in [&self.faults.checkresult, &self.faults.video]
            .into_iter()
            .flatten()
        {
            plan.validate().map_err(Error::Config)?;
        }
        if let Some(base) = &self.public_base_url
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return bad(format!(
                "public_base_url {base:?} must start with http:// or https://"
            ));
        }
        Ok(())
    }

    /// `HostId` of OSS errors.
    pub fn oss_host_id(&self) -> String {
        self.oss_host_id
            .clone()
            .unwrap_or_else(|| format!("{}.oss-cn-hongkong.aliyuncs.com", self.bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_has_the_test_key_pair() {
        let c = EmulatorConfig::default();
        assert_eq!(c.access_keys, vec![AccessKey::new("testid", "testsecret")]);
        assert!(c.check_timestamps);
        assert_eq!(c.region_host, "cloudauth-intl.cn-hongkong.aliyuncs.com");
        c.validate().unwrap();
    }

    #[test]
    fn debug_redacts_secrets() {
        let k = AccessKey::sts("id", "topsecret", "tokenvalue");
        let s = format!("{k:?}");
        assert!(!s.contains("topsecret") && !s.contains("tokenvalue"), "{s}");
    }

    #[test]
    fn toml_overrides_and_validates() {
        let c = EmulatorConfig::from_toml_str(
            "check_timestamps = false\nbucket = \"my-bucket\"\n[[access_keys]]\nid = \"a\"\nsecret = \"b\"\n",
        )
        .unwrap();
        assert!(!c.check_timestamps);
        assert_eq!(c.access_keys.len(), 1);
        assert_eq!(c.oss_host_id(), "my-bucket.oss-cn-hongkong.aliyuncs.com");
        assert!(EmulatorConfig::from_toml_str("bucket = \"admin\"").is_err());
        assert!(EmulatorConfig::from_toml_str("unknown_key = 1").is_err());
        assert!(EmulatorConfig::from_toml_str("access_keys = []").is_err());
    }
}

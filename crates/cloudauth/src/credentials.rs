//! Access key credentials: a long-lived RAM access key, or an STS triple with a security token.
//!
//! Loaded from the standard Alibaba Cloud environment variables ([`Credentials::from_env`],
//! [`Credentials::from_env_map`] for an injectable environment) or from files such as
//! Kubernetes secret mounts ([`Credentials::from_files`]). The secret and the token are held in
//! [`SecretString`]s; `Debug` masks them and no error ever carries a value.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// Environment variable holding the access key id.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable holding the access key secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable holding the optional STS security token.
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// Which credential a [`CredentialsError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialPart {
    /// The access key id.
    AccessKeyId,
    /// The access key secret.
    AccessKeySecret,
    /// The STS security token.
    SecurityToken,
}

impl fmt::Display for CredentialPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialPart::AccessKeyId => "access key id",
            CredentialPart::AccessKeySecret => "access key secret",
            CredentialPart::SecurityToken => "security token",
        })
    }
}

/// Why credentials could not be loaded or used. Names the variable, file or part, never a value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A required environment variable is unset or empty.
    #[error("environment variable {var} is not set or empty")]
    MissingEnv {
        /// The variable's name.
        var: &'static str,
    },
    /// A credential file could not be read.
    #[error("cannot read {part} file {}", path.display())]
    ReadFile {
        /// Which credential the file holds.
        part: CredentialPart,
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A credential file is empty (after trimming the trailing newline).
    #[error("{part} file {} is empty", path.display())]
    EmptyFile {
        /// Which credential the file holds.
        part: CredentialPart,
        /// The file's path.
        path: PathBuf,
    },
    /// A credential contains characters that cannot be sent in an HTTP header or query
    /// (control characters, whitespace or non-ASCII).
    #[error("{part} contains characters that are not printable ascii")]
    NotPrintable {
        /// Which credential is malformed.
        part: CredentialPart,
    },
}

/// An access key, optionally with an STS security token.
///
/// `Debug` shows the access key id (an identifier, not a secret, and what one needs to diagnose
/// `InvalidAccessKeyId.*`), and masks the secret and the token.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (`LTAI…` for RAM users, `STS.…` for STS).
    pub access_key_id: String,
    /// The access key secret.
    pub access_key_secret: SecretString,
    /// The STS security token, when the key is temporary.
    pub security_token: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"***")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl Credentials {
    /// Credentials from values in hand. An empty token counts as no token.
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: SecretString::from(access_key_secret.into()),
            security_token: security_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
        }
    }

    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and the optional
    /// `ALIBABA_CLOUD_SECURITY_TOKEN` from the process environment.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_env_map(&|name: &str| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`], reading variables through `lookup` (an injectable
    /// environment; a `HashMap` works as `&|k| map.get(k).cloned()`). Empty values count as unset.
    pub fn from_env_map<F>(lookup: &F) -> Result<Self, CredentialsError>
    where
        F: Fn(&str) -> Option<String> + ?Sized,
    {
        let get = |var: &'static str| lookup(var).filter(|v| !v.is_empty());
        let id = get(ENV_ACCESS_KEY_ID).ok_or(CredentialsError::MissingEnv {
            var: ENV_ACCESS_KEY_ID,
        })?;
        let secret = get(ENV_ACCESS_KEY_SECRET).ok_or(CredentialsError::MissingEnv {
            var: ENV_ACCESS_KEY_SECRET,
        })?;
        let token = get(ENV_SECURITY_TOKEN);
        let creds = Credentials::new(id, secret, token);
        creds.validate()?;
        Ok(creds)
    }

    /// Reads each credential from its own file (Kubernetes secret mounts). One trailing
    /// newline (`\n` or `\r\n`, possibly repeated) is removed; nothing else is trimmed.
    pub fn from_files(
        access_key_id_path: impl AsRef<Path>,
        access_key_secret_path: impl AsRef<Path>,
        security_token_path: Option<&Path>,
    ) -> Result<Self, CredentialsError> {
        let id = read_credential_file(CredentialPart::AccessKeyId, access_key_id_path.as_ref())?;
        let secret = read_credential_file(
            CredentialPart::AccessKeySecret,
            access_key_secret_path.as_ref(),
        )?;
        let token = security_token_path
            .map(|p| read_credential_file(CredentialPart::SecurityToken, p))
            .transpose()?;
        let creds = Credentials::new(id, secret, token);
        creds.validate()?;
        Ok(creds)
    }

    /// Whether these are STS credentials (a security token is present).
    pub fn is_sts(&self) -> bool {
        self.security_token.is_some()
    }

    /// Checks that every part can travel in an HTTP header and a query string: non-empty
    /// (token: when present) and visible ASCII only.
    pub fn validate(&self) -> Result<(), CredentialsError> {
        fn check(part: CredentialPart, value: &str) -> Result<(), CredentialsError> {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(CredentialsError::NotPrintable { part });
            }
            Ok(())
        }
        check(CredentialPart::AccessKeyId, &self.access_key_id)?;
        check(
            CredentialPart::AccessKeySecret,
            self.access_key_secret.expose_secret(),
        )?;
        if let Some(token) = &self.security_token {
            check(CredentialPart::SecurityToken, token.expose_secret())?;
        }
        Ok(())
    }
}

fn read_credential_file(part: CredentialPart, path: &Path) -> Result<String, CredentialsError> {
    let mut text = std::fs::read_to_string(path).map_err(|source| CredentialsError::ReadFile {
        part,
        path: path.to_owned(),
        source,
    })?;
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    if text.is_empty() {
        return Err(CredentialsError::EmptyFile {
            part,
            path: path.to_owned(),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn from_env_map_reads_all_three() {
        let map = env(&[
            (ENV_ACCESS_KEY_ID, "STS.id"),
            (ENV_ACCESS_KEY_SECRET, "s3cr3tvalue"),
            (ENV_SECURITY_TOKEN, "CAIS.tokenvalue=="),
        ]);
        let c = Credentials::from_env_map(&|k: &str| map.get(k).cloned()).unwrap();
        assert_eq!(c.access_key_id, "STS.id");
        assert_eq!(c.access_key_secret.expose_secret(), "s3cr3tvalue");
        assert_eq!(
            c.security_token.as_ref().unwrap().expose_secret(),
            "CAIS.tokenvalue=="
        );
        assert!(c.is_sts());
    }

    #[test]
    fn from_env_map_token_optional_and_empty_means_unset() {
        let map = env(&[
            (ENV_ACCESS_KEY_ID, "LTAIid"),
            (ENV_ACCESS_KEY_SECRET, "s3cr3t"),
            (ENV_SECURITY_TOKEN, ""),
        ]);
        let c = Credentials::from_env_map(&|k: &str| map.get(k).cloned()).unwrap();
        assert!(c.security_token.is_none());
    }

    #[test]
    fn from_env_map_names_the_missing_variable() {
        let map = env(&[(ENV_ACCESS_KEY_ID, "LTAIid")]);
        let err = Credentials::from_env_map(&|k: &str| map.get(k).cloned()).unwrap_err();
        assert!(matches!(
            err,
            CredentialsError::MissingEnv {
                var: ENV_ACCESS_KEY_SECRET
            }
        ));
        assert_eq!(
            err.to_string(),
            "environment variable ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set or empty"
        );
        let map = env(&[(ENV_ACCESS_KEY_ID, ""), (ENV_ACCESS_KEY_SECRET, "x")]);
        let err = Credentials::from_env_map(&|k: &str| map.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains(ENV_ACCESS_KEY_ID));
    }

    #[test]
    fn from_env_map_rejects_unprintable_without_echoing() {
        let map = env(&[
            (ENV_ACCESS_KEY_ID, "LTAIid"),
            (ENV_ACCESS_KEY_SECRET, "bad secret"),
        ]);
        let err = Credentials::from_env_map(&|k: &str| map.get(k).cloned()).unwrap_err();
        assert!(matches!(
            err,
            CredentialsError::NotPrintable {
                part: CredentialPart::AccessKeySecret
            }
        ));
        assert!(!err.to_string().contains("bad secret"));
    }

    #[test]
    fn from_files_trims_trailing_newlines_only() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("id");
        let secret = dir.path().join("secret");
        let token = dir.path().join("token");
        std::fs::write(&id, "LTAIfile\n").unwrap();
        std::fs::write(&secret, "filesecret\r\n").unwrap();
        std::fs::write(&token, "CAIS.tok==").unwrap();
        let c = Credentials::from_files(&id, &secret, Some(token.as_path())).unwrap();
        assert_eq!(c.access_key_id, "LTAIfile");
        assert_eq!(c.access_key_secret.expose_secret(), "filesecret");
        assert_eq!(
            c.security_token.as_ref().unwrap().expose_secret(),
            "CAIS.tok=="
        );
        let c = Credentials::from_files(&id, &secret, None).unwrap();
        assert!(c.security_token.is_none());
    }

    #[test]
    fn from_files_names_unreadable_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("id");
        std::fs::write(&id, "LTAIfile\n").unwrap();
        let missing = dir.path().join("nope");
        let err = Credentials::from_files(&id, &missing, None).unwrap_err();
        assert!(matches!(
            err,
            CredentialsError::ReadFile {
                part: CredentialPart::AccessKeySecret,
                ..
            }
        ));
        assert!(err.to_string().contains("nope"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = Credentials::from_files(&id, &empty, None).unwrap_err();
        assert!(matches!(
            err,
            CredentialsError::EmptyFile {
                part: CredentialPart::AccessKeySecret,
                ..
            }
        ));
    }

    #[test]
    fn debug_masks_secret_and_token() {
        let c = Credentials::new(
            "LTAIvisible",
            "TopSecretValue123",
            Some("CAIS.SessionTokenXYZ".into()),
        );
        let dbg = format!("{c:?}");
        assert!(dbg.contains("LTAIvisible"));
        assert!(!dbg.contains("TopSecretValue123"), "{dbg}");
        assert!(!dbg.contains("SessionTokenXYZ"), "{dbg}");
        let dbg = format!("{c:#?}");
        assert!(!dbg.contains("TopSecretValue123"));
    }
}

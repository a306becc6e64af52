//! Secret values and where they come from.
//!
//! A [`Secret`] is zeroed when dropped and never printed: its `Debug` says only
//! how long it is. A [`SecretSource`] names where a secret is read from; an
//! inline value is redacted in `Debug` as well.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

/// Secret bytes: an HS256 account key, or a real API key substituted by the
/// proxy. Cheap to clone (shared), zeroed when the last clone drops.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<Vec<u8>>>);

impl Secret {
    /// Wraps bytes as a secret.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Arc::new(Zeroizing::new(bytes)))
    }

    /// The secret bytes. Handle with care: never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted, {} bytes>)", self.0.len())
    }
}

/// Where a secret comes from: `{ env = "NAME" }`, `{ file = "path" }` or (for
/// demos and tests) `{ value = "..." }`.
#[derive(Clone)]
pub enum SecretSource {
    /// An environment variable, read once at start.
    Env(String),
    /// A file, read at start and again whenever it changes. Surrounding
    /// white space (a trailing newline) is ignored.
    File(PathBuf),
    /// An inline value.
    Value(Secret),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => f.debug_tuple("Env").field(name).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
            SecretSource::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

/// Why a secret could not be read. Names the source, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretSourceError {
    /// The environment variable is not set.
    #[error("environment variable {0} is not set; export it, or use {{ file = \"...\" }}")]
    EnvMissing(String),
    /// The environment variable is not valid UTF-8.
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    /// The file could not be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The source holds nothing but white space.
    #[error("{0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Reads the secret now. Surrounding ASCII white space is removed.
    pub fn read(&self) -> Result<Secret, SecretSourceError> {
        let (bytes, what) = self.read_as_written()?;
        trimmed(&bytes, what)
    }

    /// The secret's bytes exactly as written (for warnings about how it
    /// was written: a byte-order mark, a Windows line end), and what names
    /// the source in errors.
    pub fn read_as_written(&self) -> Result<(Zeroizing<Vec<u8>>, String), SecretSourceError> {
        let (bytes, what) = match self {
            SecretSource::Env(name) => {
                let value = std::env::var(name).map_err(|e| match e {
                    std::env::VarError::NotPresent => SecretSourceError::EnvMissing(name.clone()),
                    std::env::VarError::NotUnicode(_) => {
                        SecretSourceError::EnvNotUnicode(name.clone())
                    }
                })?;
                (
                    Zeroizing::new(value.into_bytes()),
                    format!("environment variable {name}"),
                )
            }
            SecretSource::File(path) => (
                Zeroizing::new(read_file(path)?),
                format!("secret file {}", path.display()),
            ),
            SecretSource::Value(secret) => (
                Zeroizing::new(secret.expose().to_vec()),
                "inline value".to_owned(),
            ),
        };
        Ok((bytes, what))
    }

    /// The file this source watches, if it is a file.
    pub fn file(&self) -> Option<&Path> {
        match self {
            SecretSource::File(p) => Some(p),
            _ => None,
        }
    }

    /// A short description for logs: never the value.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(name) => format!("env {name}"),
            SecretSource::File(path) => format!("file {}", path.display()),
            SecretSource::Value(_) => "inline value".to_owned(),
        }
    }
}

/// The secret in `bytes`, surrounding ASCII white space removed; `what`
/// names the source in the error.
pub(crate) fn trimmed(bytes: &[u8], what: String) -> Result<Secret, SecretSourceError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Err(SecretSourceError::Empty(what));
    }
    Ok(Secret::new(trimmed.to_vec()))
}

fn read_file(path: &Path) -> Result<Vec<u8>, SecretSourceError> {
    std::fs::read(path).map_err(|source| SecretSourceError::File {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new(b"hunter2-very-secret".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted, 19 bytes>)");
        let src = SecretSource::Value(s);
        assert!(!format!("{src:?}").contains("hunter2"));
        assert!(!src.describe().contains("hunter2"));
    }

    #[test]
    fn reads_trimmed_and_refuses_empty() {
        let dir = std::env::temp_dir().join(format!("attestgate-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        std::fs::write(&path, "  abc\n").unwrap();
        let got = SecretSource::File(path.clone())
            .read()
            .map(|s| s.expose().to_vec());
        assert_eq!(got.ok(), Some(b"abc".to_vec()));
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            SecretSource::File(path).read(),
            Err(SecretSourceError::Empty(_))
        ));
        assert!(matches!(
            SecretSource::Env("ATTESTGATE_TEST_SURELY_UNSET".into()).read(),
            Err(SecretSourceError::EnvMissing(_))
        ));
    }
}

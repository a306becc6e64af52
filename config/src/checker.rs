//! The checker every section uses: [`Checker`], which collects every problem with its key path (and the
//! warnings) while the sections read their part of the raw file. A leaf:
//! the sections import it, and it imports none of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use attestgate::{Mode, SecretSource};
use http::HeaderName;

use crate::Problem;
use crate::secret_ref::RawSecretRef;

/// Parses a duration written as `"300ms"`, `"30s"`, `"5m"`, `"1h"` (or any
/// combination humantime accepts, like `"1m 30s"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("{text:?} is not a duration; write it like \"300ms\", \"30s\", \"5m\" or \"1h\"")
    })
}

pub(crate) struct Checker<'a> {
    pub(crate) base: &'a Path,
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<String>,
    /// Secrets by env or file are not read (`Config::load_offline`).
    pub(crate) offline: bool,
}

impl Checker<'_> {
    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn duration(
        &mut self,
        path: &str,
        value: Option<&String>,
        default: Duration,
    ) -> Duration {
        match value {
            None => default,
            Some(text) => parse_duration(text).unwrap_or_else(|m| {
                self.problem(path, m);
                default
            }),
        }
    }

    pub(crate) fn addr(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(path, format!("{text:?} is not an address; write it like \"127.0.0.1:8080\" or \"[::]:443\""));
                None
            }
        }
    }

    pub(crate) fn header(&mut self, path: &str, text: &str) -> Option<HeaderName> {
        match HeaderName::try_from(text) {
            Ok(h) => Some(h),
            Err(_) => {
                self.problem(path, format!("{text:?} is not a valid HTTP header name"));
                None
            }
        }
    }

    pub(crate) fn file(&self, text: &str) -> PathBuf {
        let p = Path::new(text);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// A secret reference; checks its shape, and that it can be read now
    /// (unless offline: then only inline values are read).
    pub(crate) fn secret(&mut self, path: &str, r: RawSecretRef) -> SecretSource {
        // A malformed reference is not read: one problem, the name not echoed.
        let malformed = crate::secret_shape::problem(&r);
        if let Some(why) = &malformed {
            self.problem(path, why.as_str());
        }
        let source = match r {
            RawSecretRef::Env(name) => SecretSource::Env(name),
            RawSecretRef::File(f) => SecretSource::File(self.file(&f)),
            RawSecretRef::Value(v) => {
                self.warnings.push(format!(
                    "{path}: an inline secret value is for demos and tests; in production use {{ env = \"NAME\" }} or {{ file = \"path\" }}"
                ));
                SecretSource::Value(attestgate::Secret::new(v.as_bytes().to_vec()))
            }
        };
        if malformed.is_none()
            && !(self.offline && crate::secret_shape::external(&source))
            && let Err(e) = source.read()
        {
            self.problem(path, e.to_string());
        }
        source
    }

    pub(crate) fn int_in(
        &mut self,
        path: &str,
        v: Option<i64>,
        min: i64,
        max: i64,
        default: i64,
    ) -> i64 {
        match v {
            None => default,
            Some(n) if (min..=max).contains(&n) => n,
            Some(n) => {
                self.problem(
                    path,
                    format!("{n} is out of range; use {min} to {max} (default {default})"),
                );
                default
            }
        }
    }

    pub(crate) fn mode(&mut self, path: &str, v: Option<&str>, default: Mode) -> Mode {
        match v {
            None => default,
            Some("enforce") => Mode::Enforce,
            Some("monitor") => Mode::Monitor,
            Some(other) => {
                self.problem(
                    path,
                    format!("{other:?} is not a mode; use \"enforce\" or \"monitor\""),
                );
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("10").is_err());
    }
}

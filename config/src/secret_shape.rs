//! The shape of a secret reference, checked whether or not the secret is
//! read (`check-config --offline` reads none by env or file). A malformed
//! name or path is never quoted: it may be a secret pasted in the wrong
//! place.

use attestgate::SecretSource;

use crate::secret_ref::RawSecretRef;

/// What is wrong with the reference's name or path, if anything.
pub(crate) fn problem(r: &RawSecretRef) -> Option<String> {
    match r {
        RawSecretRef::Env(name) if !env_name_ok(name) => Some(
            "is not an environment variable name (not repeated here, in case it is a secret); \
             use letters, digits and _, not starting with a digit, like { env = \"APPROOV_SECRET\" }"
                .to_owned(),
        ),
        RawSecretRef::File(path) if path.trim().is_empty() => {
            Some("the file path is empty; write { file = \"/run/secrets/name\" }".to_owned())
        }
        RawSecretRef::File(path) if path.contains('\0') => {
            Some("the file path holds a NUL character; write { file = \"/run/secrets/name\" }".to_owned())
        }
        RawSecretRef::File(path) if path.ends_with('/') => Some(
            "the file path ends in / (a folder); name the file, like { file = \"/run/secrets/name\" }"
                .to_owned(),
        ),
        _ => None,
    }
}

/// An environment variable name as shells and Kubernetes can set it:
/// letters, digits, `_`, `.` and `-`, not starting with a digit.
fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '-'))
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A source read from outside the file (env or file), which offline leaves unread.
pub(crate) fn external(source: &SecretSource) -> bool {
    !matches!(source, SecretSource::Value(_))
}

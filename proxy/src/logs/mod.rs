//! What the proxy does to log lines on their way out: every line redacted
//! ([`redact`]), and Pingora's warning and error lines bounded per second
//! ([`flood`]). `main.rs` installs both.

pub(crate) mod flood;
mod redact;

pub use flood::PingoraFloodGuard;
pub use redact::{LineWriter, RedactingStderr};

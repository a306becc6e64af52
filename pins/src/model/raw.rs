//! `pins.toml` as written: serde structs, unknown keys refused.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPinsFile {
    #[serde(default)]
    pub(crate) domain: Vec<RawDomain>,
}

/// One `[[domain]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDomain {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) include_subdomains: bool,
    #[serde(default)]
    pub(crate) addresses: Vec<String>,
    pub(crate) port: Option<i64>,
    #[serde(default)]
    pub(crate) servername: String,
    #[serde(default)]
    pub(crate) ca_file: String,
    pub(crate) expires: Option<String>,
    pub(crate) timeout: Option<String>,
    #[serde(default)]
    pub(crate) pins: Vec<RawPin>,
}

/// One entry of `pins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPin {
    pub(crate) sha256: Option<String>,
    pub(crate) file: Option<String>,
    #[serde(default)]
    pub(crate) label: String,
    pub(crate) kind: Option<String>,
}

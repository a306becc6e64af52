//! Platform configs from a checked `pins.toml`, one file per format:
//! Android's network security config, an iOS `Info.plist` fragment,
//! OkHttp `CertificatePinner` code, TrustKit's configuration, JSON.
//! Output is deterministic (file order, no timestamps), so it can be
//! committed and diffed.

mod android;
mod ios;
mod json;
mod okhttp;
mod trustkit;

use crate::model::PinsFile;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `res/xml/network_security_config.xml`.
    Android,
    /// `Info.plist` fragment (`NSAppTransportSecurity` → `NSPinnedDomains`).
    Ios,
    /// Kotlin `CertificatePinner.Builder()` code.
    Okhttp,
    /// Swift TrustKit configuration dictionary.
    Trustkit,
    /// JSON.
    Json,
}

impl Format {
    /// Every format, in the order of the docs.
    pub const ALL: [Format; 5] = [
        Format::Android,
        Format::Ios,
        Format::Okhttp,
        Format::Trustkit,
        Format::Json,
    ];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Android => "android",
            Format::Ios => "ios",
            Format::Okhttp => "okhttp",
            Format::Trustkit => "trustkit",
            Format::Json => "json",
        }
    }

    /// The format named `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// Renders `file` in `format`.
pub fn render(file: &PinsFile, format: Format) -> Result<String, String> {
    if let Some(d) = file.domains.iter().find(|d| d.pins.is_empty()) {
        return Err(format!(
            "{} has no pins: a platform config without pins is refused or pins nothing",
            d.name
        ));
    }
    match format {
        Format::Android => Ok(android::render(file)),
        Format::Ios => ios::render(file),
        Format::Okhttp => Ok(okhttp::render(file)),
        Format::Trustkit => Ok(trustkit::render(file)),
        Format::Json => json::render(file),
    }
}

/// A label made safe for a one-line code or XML comment.
pub(crate) fn comment(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace("--", "- -")
        .replace("*/", "* /")
}

/// A string literal for Kotlin and Swift (both take these escapes).
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

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
    // Names are checked when pins.toml loads; a model built by hand gets
    // the same check, so no format ever carries a name a platform would
    // misread (or that would need escaping in Kotlin, Swift or a plist).
    if let Some(d) = file
        .domains
        .iter()
        .find(|d| !crate::model::valid_host(&d.name))
    {
        return Err(format!(
            "{:?} is not a host name (letters, digits, '-', '.')",
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

/// A label made safe for a one-line code comment (Kotlin, Swift) and for
/// an XML comment (Android): one line, XML 1.0 `Char`s only, no `--`
/// (XML 1.0 §2.5 forbids it inside a comment), no `*/`, and no bidi
/// controls that could make a reviewer read the generated line wrongly.
///
/// Callers write it between spaces (`<!-- {} -->`, `// {}`), so a label
/// that starts or ends with `-` cannot touch the comment's own dashes.
pub(crate) fn comment(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        let c = if is_comment_char(c) { c } else { ' ' };
        // a '-' after a '-' gets a space between: "a---b" -> "a- - -b"
        if c == '-' && out.ends_with('-') {
            out.push(' ');
        }
        // "*/" would end a block comment in Kotlin and Swift
        if c == '/' && out.ends_with('*') {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Whether `c` may stand in a generated one-line comment: an XML 1.0
/// `Char` (no C0 controls, no U+FFFE/U+FFFF), not a line break of any
/// kind (C1 controls, U+2028/U+2029), and not a bidi control (U+061C,
/// U+200E/U+200F, U+202A..U+202E, U+2066..U+2069).
fn is_comment_char(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{FFFE}'
                | '\u{FFFF}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        ))
}

/// A string literal for Kotlin and Swift (both take these escapes).
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            c if !is_comment_char(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::comment;

    #[test]
    fn comments_never_hold_two_dashes_or_a_non_char() {
        for (label, want) in [
            ("leaf key", "leaf key"),
            ("--format", "- -format"),
            ("a---b", "a- - -b"),
            ("----", "- - - -"),
            ("end-", "end-"),
            ("x-->", "x- ->"),
            ("a\u{FFFE}b\u{FFFF}c", "a b c"),
            ("line\nbreak\r\u{85}\u{2028}", "line break   "),
            ("nul\u{0}", "nul "),
            ("rtl\u{202E}gnp.exe", "rtl gnp.exe"),
            ("*/ end", "* / end"),
        ] {
            assert_eq!(comment(label), want, "{label:?}");
        }
    }
}

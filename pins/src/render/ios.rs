//! iOS `Info.plist` fragment: `NSAppTransportSecurity` → `NSPinnedDomains`
//! → one dictionary per domain with `NSIncludesSubdomains`,
//! `NSPinnedLeafIdentities` (pins of `kind = "leaf"`) and
//! `NSPinnedCAIdentities` (pins of `kind = "ca"`), each identity a
//! `SPKI-SHA256-BASE64` entry. When both lists are present iOS requires a
//! match in each. iOS has no pin expiry.
//!
//! Written with the `plist` crate, so it is a well-formed plist to merge
//! into the app's own (PlistBuddy, `plutil`, or by hand).

use plist::{Dictionary, Value};

use crate::model::{PinKind, PinsFile};

pub(crate) fn render(file: &PinsFile) -> Result<String, String> {
    let mut domains = Dictionary::new();
    for d in &file.domains {
        let mut entry = Dictionary::new();
        entry.insert(
            "NSIncludesSubdomains".into(),
            Value::Boolean(d.include_subdomains),
        );
        for (kind, key) in [
            (PinKind::Leaf, "NSPinnedLeafIdentities"),
            (PinKind::Ca, "NSPinnedCAIdentities"),
        ] {
            let mut seen = Vec::new();
            let identities: Vec<Value> = d
                .pins
                .iter()
                .filter(|p| p.kind == kind)
                .filter(|p| {
                    let new = !seen.contains(&p.pin);
                    seen.push(p.pin);
                    new
                })
                .map(|p| {
                    let mut id = Dictionary::new();
                    id.insert(
                        "SPKI-SHA256-BASE64".into(),
                        Value::String(p.pin.to_base64()),
                    );
                    Value::Dictionary(id)
                })
                .collect();
            if !identities.is_empty() {
                entry.insert(key.into(), Value::Array(identities));
            }
        }
        domains.insert(d.name.clone(), Value::Dictionary(entry));
    }
    let mut ats = Dictionary::new();
    ats.insert("NSPinnedDomains".into(), Value::Dictionary(domains));
    let mut root = Dictionary::new();
    root.insert("NSAppTransportSecurity".into(), Value::Dictionary(ats));
    let mut out = Vec::new();
    Value::Dictionary(root)
        .to_writer_xml(&mut out)
        .map_err(|e| e.to_string())?;
    let mut text = String::from_utf8(out).map_err(|e| e.to_string())?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

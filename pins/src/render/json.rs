//! JSON: the checked model, for other tools (and the signed config's
//! `domains`, which has the same shape).

use crate::model::PinsFile;

pub(crate) fn render(file: &PinsFile) -> Result<String, String> {
    let domains: Vec<serde_json::Value> = file
        .domains
        .iter()
        .map(|d| {
            let mut seen = Vec::new();
            let pins: Vec<serde_json::Value> = d
                .pins
                .iter()
                .filter(|p| {
                    let new = !seen.contains(&p.pin);
                    seen.push(p.pin);
                    new
                })
                .map(|p| serde_json::json!({"sha256": p.pin, "label": p.label, "kind": p.kind}))
                .collect();
            serde_json::json!({
                "name": d.name,
                "include_subdomains": d.include_subdomains,
                "expires": d.expires.map(crate::clock::date_text),
                "pins": pins,
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({ "domains": domains }))
        .map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

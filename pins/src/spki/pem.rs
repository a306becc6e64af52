//! PEM blocks, read strictly: every BEGIN has its END, the body is base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::SpkiError;

/// One PEM block.
pub(crate) struct Block {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
    /// 1-based line of its BEGIN.
    pub(crate) line: usize,
}

/// Whether `bytes` look like PEM (a BEGIN line somewhere in text).
pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Every block in `text`, in order. Text outside blocks (OpenSSL's
/// `Bag Attributes`, comments) is ignored; a block that does not close, or
/// whose body is not base64, is an error naming its line.
pub(crate) fn blocks(bytes: &[u8]) -> Result<Vec<Block>, SpkiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SpkiError::Pem {
        line: 0,
        problem: "not UTF-8 text".into(),
    })?;
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim().trim_start_matches('\u{feff}');
        let number = i + 1;
        if let Some((label, start, body)) = open.as_mut() {
            if let Some(end) = line.strip_prefix("-----END ") {
                let end = end.strip_suffix("-----").unwrap_or(end);
                if end != label {
                    return Err(SpkiError::Pem {
                        line: number,
                        problem: format!("END {end:?} closes BEGIN {label:?}"),
                    });
                }
                let der = STANDARD
                    .decode(body.as_bytes())
                    .map_err(|_| SpkiError::Pem {
                        line: *start,
                        problem: format!("the {label} block is not valid base64"),
                    })?;
                out.push(Block {
                    label: std::mem::take(label),
                    der,
                    line: *start,
                });
                open = None;
            } else if line.contains(':') {
                // RFC 1421 headers: Proc-Type: 4,ENCRYPTED and friends.
                return Err(SpkiError::Encrypted);
            } else if line.starts_with("-----") {
                return Err(SpkiError::Pem {
                    line: number,
                    problem: format!("the {label} block that starts on line {start} never ends"),
                });
            } else {
                body.push_str(line);
            }
        } else if let Some(begin) = line.strip_prefix("-----BEGIN ") {
            let label = begin.strip_suffix("-----").ok_or_else(|| SpkiError::Pem {
                line: number,
                problem: "a BEGIN line without its closing dashes".into(),
            })?;
            open = Some((label.to_owned(), number, String::new()));
        }
    }
    if let Some((label, start, _)) = open {
        return Err(SpkiError::Pem {
            line: start,
            problem: format!("the {label} block never ends (truncated?)"),
        });
    }
    if out.is_empty() {
        return Err(SpkiError::Pem {
            line: 0,
            problem: "no PEM block".into(),
        });
    }
    Ok(out)
}

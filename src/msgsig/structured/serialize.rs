//! The canonical serialization of RFC 8941 §4.1 (what the signature base
//! holds for `@signature-params`, component identifiers, `;sf` and `;key`).

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{BareItem, Dictionary, InnerList, Item, Member, Params};

/// Appends the canonical serialization of a bare item (§4.1.3).
pub(crate) fn write_bare(out: &mut String, bare: &BareItem) {
    match bare {
        BareItem::Integer(v) => {
            let _ = write!(out, "{v}");
        }
        BareItem::Decimal(v) => {
            let sign = if *v < 0 { "-" } else { "" };
            let a = v.unsigned_abs();
            let mut frac = format!("{:03}", a % 1000);
            while frac.len() > 1 && frac.ends_with('0') {
                frac.pop();
            }
            let _ = write!(out, "{sign}{}.{frac}", a / 1000);
        }
        BareItem::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        BareItem::Token(t) => out.push_str(t),
        BareItem::Bytes(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        BareItem::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}

/// Appends `;key=value` for each parameter (`;key` for a true boolean).
pub(crate) fn write_params(out: &mut String, params: &Params) {
    for (k, v) in params {
        out.push(';');
        out.push_str(k);
        if *v != BareItem::Boolean(true) {
            out.push('=');
            write_bare(out, v);
        }
    }
}

/// Appends an item with its parameters.
pub(crate) fn write_item(out: &mut String, item: &Item) {
    write_bare(out, &item.bare);
    write_params(out, &item.params);
}

/// Appends an inner list with its parameters.
pub(crate) fn write_inner(out: &mut String, inner: &InnerList) {
    out.push('(');
    for (i, item) in inner.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_item(out, item);
    }
    out.push(')');
    write_params(out, &inner.params);
}

/// Appends a list or dictionary member.
pub(crate) fn write_member(out: &mut String, member: &Member) {
    match member {
        Member::Item(i) => write_item(out, i),
        Member::Inner(l) => write_inner(out, l),
    }
}

/// Appends a whole list.
pub(crate) fn write_list(out: &mut String, list: &[Member]) {
    for (i, m) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_member(out, m);
    }
}

/// Appends a whole dictionary (`key` alone for a true boolean member).
pub(crate) fn write_dictionary(out: &mut String, dict: &Dictionary) {
    for (i, (k, m)) in dict.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        match m {
            Member::Item(item) if item.bare == BareItem::Boolean(true) => {
                write_params(out, &item.params)
            }
            _ => {
                out.push('=');
                write_member(out, m);
            }
        }
    }
}

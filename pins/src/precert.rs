//! Precertificates (RFC 6962 §3.1) taken apart in DER: the certificate a
//! precertificate announces has the same TBSCertificate without the
//! critical poison extension, and a certificate's TBS as CT defines it has
//! no SCT list. Used by the CT watch (its TBS hash, its judging) and by
//! `check::platform::judge_precert`.

use crate::der::{self, tag};

/// CT poison, 1.3.6.1.4.1.11129.2.4.3 (DER OID content).
pub const POISON: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];
/// Embedded SCT list, 1.3.6.1.4.1.11129.2.4.2.
pub const SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
/// Precertificate Signing Certificate EKU, 1.3.6.1.4.1.11129.2.4.4.
pub const PRECERT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x04];

const EXTENSIONS: u8 = 0xa3;

/// A certificate's three parts, each a whole TLV.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    /// The TBSCertificate.
    pub tbs: &'a [u8],
    /// The signatureAlgorithm.
    pub sig_alg: &'a [u8],
    /// The signature BIT STRING.
    pub sig: &'a [u8],
}

/// Splits a DER certificate; `None` when it is not one.
pub fn parts(cert: &[u8]) -> Option<Parts<'_>> {
    let outer = der::whole(cert, tag::SEQUENCE)?;
    let (tbs, rest) = der::expect(outer.content, tag::SEQUENCE)?;
    let (alg, rest) = der::expect(rest, tag::SEQUENCE)?;
    let sig = der::whole(rest, tag::BIT_STRING)?;
    Some(Parts {
        tbs: tbs.whole,
        sig_alg: alg.whole,
        sig: sig.whole,
    })
}

/// `tbs` (a whole TBSCertificate TLV) without the extensions whose OID is
/// in `drop`, and whether one was dropped. `None` when it is not DER.
pub fn without_extensions(tbs: &[u8], drop: &[&[u8]]) -> Option<(Vec<u8>, bool)> {
    let t = der::whole(tbs, tag::SEQUENCE)?;
    let mut content = Vec::with_capacity(t.content.len());
    let mut rest = t.content;
    let mut dropped = false;
    while !rest.is_empty() {
        let (field, after) = der::read(rest)?;
        rest = after;
        if field.tag != EXTENSIONS {
            content.extend_from_slice(field.whole);
            continue;
        }
        let list = der::whole(field.content, tag::SEQUENCE)?;
        let mut kept = Vec::with_capacity(list.content.len());
        let mut exts = list.content;
        while !exts.is_empty() {
            let (ext, after) = der::expect(exts, tag::SEQUENCE)?;
            exts = after;
            let (oid, _) = der::expect(ext.content, tag::OID)?;
            if drop.contains(&oid.content) {
                dropped = true;
            } else {
                kept.extend_from_slice(ext.whole);
            }
        }
        if !kept.is_empty() {
            content.extend_from_slice(&der::encode(EXTENSIONS, &der::encode(tag::SEQUENCE, &kept)));
        }
    }
    if !dropped {
        return Some((tbs.to_vec(), false));
    }
    Some((der::encode(tag::SEQUENCE, &content), true))
}

/// A precertificate read as the certificate it announces.
#[derive(Clone, Debug)]
pub struct Announced {
    /// The certificate: the TBS without poison, under the precertificate's
    /// own signature (which was made over `signed_tbs`).
    pub cert: Vec<u8>,
    /// The TBS without poison.
    pub tbs: Vec<u8>,
    /// The TBS the issuer signed (with the poison).
    pub signed_tbs: Vec<u8>,
    /// The signature BIT STRING's content (unused-bits byte dropped).
    pub signature: Vec<u8>,
}

/// Reads a precertificate; `None` when it is not DER or has no poison.
pub fn announced(precert: &[u8]) -> Option<Announced> {
    let p = parts(precert)?;
    let (tbs, had_poison) = without_extensions(p.tbs, &[POISON])?;
    if !had_poison {
        return None;
    }
    let mut body = tbs.clone();
    body.extend_from_slice(p.sig_alg);
    body.extend_from_slice(p.sig);
    let sig = der::whole(p.sig, tag::BIT_STRING)?;
    let signature = match sig.content.split_first() {
        Some((0, s)) => s.to_vec(),
        _ => return None,
    };
    Some(Announced {
        cert: der::encode(tag::SEQUENCE, &body),
        tbs,
        signed_tbs: p.tbs.to_vec(),
        signature,
    })
}

/// The TBSCertificate as RFC 6962 §3.2 defines it for matching a
/// certificate with its precertificate: no poison, no SCT list.
pub fn ct_tbs(tbs: &[u8]) -> Option<Vec<u8>> {
    without_extensions(tbs, &[POISON, SCT_LIST]).map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(oid: &[u8], critical: bool) -> Vec<u8> {
        let mut c = der::encode(tag::OID, oid);
        if critical {
            c.extend_from_slice(&[0x01, 0x01, 0xff]);
        }
        c.extend_from_slice(&der::encode(tag::OCTET_STRING, &[0x05, 0x00]));
        der::encode(tag::SEQUENCE, &c)
    }

    fn tbs(exts: &[Vec<u8>]) -> Vec<u8> {
        let mut c = der::encode(tag::INTEGER, &[7]);
        if !exts.is_empty() {
            c.extend_from_slice(&der::encode(
                EXTENSIONS,
                &der::encode(tag::SEQUENCE, &exts.concat()),
            ));
        }
        der::encode(tag::SEQUENCE, &c)
    }

    #[test]
    fn poison_and_sct_list_come_off_and_nothing_else() {
        let other = ext(&[0x55, 0x1d, 0x11], false);
        let pre = tbs(&[other.clone(), ext(POISON, true)]);
        let (plain, dropped) = without_extensions(&pre, &[POISON]).unwrap();
        assert!(dropped);
        assert_eq!(plain, tbs(std::slice::from_ref(&other)));
        let only = tbs(&[ext(POISON, true)]);
        assert_eq!(without_extensions(&only, &[POISON]).unwrap().0, tbs(&[]));
        let fin = tbs(&[other.clone(), ext(SCT_LIST, false)]);
        assert_eq!(ct_tbs(&fin).unwrap(), ct_tbs(&pre).unwrap());
        assert_eq!(
            without_extensions(&plain, &[POISON]).unwrap(),
            (plain.clone(), false)
        );
        for cut in 1..pre.len() {
            assert!(without_extensions(&pre[..cut], &[POISON]).is_none());
        }
        let mut cert = pre.clone();
        cert.extend_from_slice(&der::encode(tag::SEQUENCE, &der::encode(tag::OID, &[1])));
        cert.extend_from_slice(&der::encode(tag::BIT_STRING, &[0, 1, 2]));
        let cert = der::encode(tag::SEQUENCE, &cert);
        let a = announced(&cert).unwrap();
        assert_eq!(a.tbs, plain);
        assert_eq!(a.signed_tbs, pre);
        assert_eq!(a.signature, vec![1, 2]);
        assert_eq!(parts(&a.cert).unwrap().tbs, &plain[..]);
    }
}

//! Just enough DER to take private keys apart and put an SPKI together.
//!
//! Certificates and CSRs are parsed by `x509-parser`; private keys are not
//! (it has no PKCS#8 or SEC1 reader), and their public half is all we need:
//! a few TLVs, read with bounds checks, never trusting a length.

/// DER tags used here.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const CONTEXT_0: u8 = 0xa0;
    pub(crate) const CONTEXT_1: u8 = 0xa1;
    /// `[1] IMPLICIT` primitive (PKCS#8 v2 `publicKey`).
    pub(crate) const CONTEXT_1_PRIMITIVE: u8 = 0x81;
}

/// Well-known OIDs, as their DER content bytes.
pub(crate) mod oid {
    pub(crate) const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub(crate) const RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub(crate) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
}

/// One TLV: its tag, its content, and (for the caller) what follows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    /// The whole TLV, tag and length included.
    pub(crate) whole: &'a [u8],
}

/// Reads one TLV off the front of `input`; `None` when it is not DER.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags: none of ours
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        if len < 0x80 {
            return None; // not minimal: not DER
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let (content, after) = rest.split_at(len);
    let whole = &input[..header + len];
    Some((
        Tlv {
            tag,
            content,
            whole,
        },
        after,
    ))
}

/// Reads one TLV that must have `tag`.
pub(crate) fn expect(input: &[u8], want: u8) -> Option<(Tlv<'_>, &[u8])> {
    read(input).filter(|(t, _)| t.tag == want)
}

/// Reads `input` as exactly one TLV with `tag` (nothing may follow).
pub(crate) fn whole(input: &[u8], want: u8) -> Option<Tlv<'_>> {
    match expect(input, want)? {
        (t, []) => Some(t),
        _ => None,
    }
}

/// Encodes one TLV.
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// SubjectPublicKeyInfo from a DER AlgorithmIdentifier and the key bits.
pub(crate) fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(key);
    let mut content = algorithm.to_vec();
    content.extend_from_slice(&encode(tag::BIT_STRING, &bits));
    encode(tag::SEQUENCE, &content)
}

/// AlgorithmIdentifier `{ oid, NULL }` (RSA's form).
pub(crate) fn algorithm_with_null(oid: &[u8]) -> Vec<u8> {
    let mut content = encode(tag::OID, oid);
    content.extend_from_slice(&encode(tag::NULL, &[]));
    encode(tag::SEQUENCE, &content)
}

/// AlgorithmIdentifier `{ oid }` with no parameters (Ed25519's form).
pub(crate) fn algorithm_bare(oid: &[u8]) -> Vec<u8> {
    encode(tag::SEQUENCE, &encode(tag::OID, oid))
}

/// AlgorithmIdentifier `{ id-ecPublicKey, curve }`.
pub(crate) fn algorithm_ec(curve_tlv: &[u8]) -> Vec<u8> {
    let mut content = encode(tag::OID, oid::EC_PUBLIC_KEY);
    content.extend_from_slice(curve_tlv);
    encode(tag::SEQUENCE, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let content = vec![7u8; len];
            let der = encode(tag::OCTET_STRING, &content);
            let t = whole(&der, tag::OCTET_STRING).unwrap();
            assert_eq!(t.content.len(), len);
            assert_eq!(t.whole, &der[..]);
        }
    }

    #[test]
    fn refuses_what_is_not_der() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x00],                // short
            &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0], // non-minimal length
            &[0x30, 0x80],                      // indefinite
            &[0x30, 0x85, 1, 1, 1, 1, 1],       // length of 5 bytes
            &[0x1f, 0x01, 0x00],                // multi-byte tag
        ] {
            assert!(read(bad).is_none(), "{bad:?}");
        }
        assert!(whole(&[0x30, 0x00, 0x00], tag::SEQUENCE).is_none());
    }
}

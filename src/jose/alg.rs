//! JWS algorithms we verify, and the key family each belongs to.

use std::fmt;

/// A JWS `alg` value that attestgate can verify.
///
/// `none` and every algorithm not listed here are refused. HMAC is HS256 only:
/// Approov account secrets are HS256 keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Alg {
    /// HMAC-SHA256 with an account secret.
    HS256,
    /// ECDSA P-256 with SHA-256 (fixed-length `r || s` signature).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// Ed25519.
    EdDSA,
}

/// The kind of key an algorithm needs. A key verifies one family only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Symmetric secret (HS256).
    Hmac,
    /// EC P-256 public key (ES256).
    EcP256,
    /// RSA public key (RS*, PS*).
    Rsa,
    /// Ed25519 public key (EdDSA).
    Ed25519,
}

impl Alg {
    /// Every supported algorithm.
    pub const ALL: [Alg; 9] = [
        Alg::HS256,
        Alg::ES256,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::EdDSA,
    ];

    /// The `alg` string, exactly as JWS spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Parses an `alg` value. Exact and case-sensitive, as RFC 7515 requires:
    /// `none`, `None`, `hs256` are all `None` here.
    pub fn from_name(name: &str) -> Option<Alg> {
        // Hot path: Approov tokens are HS256.
        if name == "HS256" {
            return Some(Alg::HS256);
        }
        Alg::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The key family this algorithm needs.
    pub const fn family(self) -> Family {
        match self {
            Alg::HS256 => Family::Hmac,
            Alg::ES256 => Family::EcP256,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Family::Rsa
            }
            Alg::EdDSA => Family::Ed25519,
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Family {
    /// The algorithms of this family.
    pub const fn algs(self) -> AlgSet {
        match self {
            Family::Hmac => AlgSet::EMPTY.with(Alg::HS256),
            Family::EcP256 => AlgSet::EMPTY.with(Alg::ES256),
            Family::Rsa => AlgSet::EMPTY
                .with(Alg::RS256)
                .with(Alg::RS384)
                .with(Alg::RS512)
                .with(Alg::PS256)
                .with(Alg::PS384)
                .with(Alg::PS512),
            Family::Ed25519 => AlgSet::EMPTY.with(Alg::EdDSA),
        }
    }
}

/// A small set of algorithms (a bit mask).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AlgSet(u16);

impl AlgSet {
    /// No algorithm.
    pub const EMPTY: AlgSet = AlgSet(0);

    /// This set plus `alg`.
    #[must_use]
    pub const fn with(self, alg: Alg) -> AlgSet {
        AlgSet(self.0 | alg.bit())
    }

    /// Whether `alg` is in the set.
    pub const fn contains(self, alg: Alg) -> bool {
        self.0 & alg.bit() != 0
    }

    /// The algorithms in both sets.
    #[must_use]
    pub const fn intersect(self, other: AlgSet) -> AlgSet {
        AlgSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in [`Alg::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Alg> {
        Alg::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Alg> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Alg>>(iter: I) -> Self {
        iter.into_iter().fold(AlgSet::EMPTY, AlgSet::with)
    }
}

impl fmt::Debug for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_not_an_algorithm() {
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.as_str()), Some(a));
        }
        for bad in [
            "none", "None", "NONE", "hs256", "HS512", "", "ES256K", "RS1",
        ] {
            assert_eq!(Alg::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn families_partition_the_algorithms() {
        let fams = [Family::Hmac, Family::EcP256, Family::Rsa, Family::Ed25519];
        for a in Alg::ALL {
            let owners: Vec<_> = fams.iter().filter(|f| f.algs().contains(a)).collect();
            assert_eq!(owners, vec![&a.family()]);
        }
    }
}

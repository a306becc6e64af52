//! What a verifier holds, shared by its clones: the policy fixed at build
//! time, the key store the request path reads, and the refresher's state.
//!
//! Built by [`crate::builder`], read by [`crate::verify`], written (the key
//! set only) by [`crate::refresh`] through [`Owner`].

use http::StatusCode;

use crate::alg::AlgSet;
use crate::binding::Binding;
use crate::extract::Extractor;
use crate::refresh::{Keeper, Owner};
use crate::store::KeyStore;

/// What a front end does with a failing request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Refuse it.
    #[default]
    Enforce,
    /// Let it through (counted as `monitored`, logged), without secrets.
    Monitor,
}

/// Policy values fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) algorithms: AlgSet,
    pub(crate) leeway: f64,
    pub(crate) max_lifetime: Option<f64>,
    pub(crate) issuer: Option<Box<str>>,
    pub(crate) audience: Option<Box<str>>,
    pub(crate) mode: Mode,
    pub(crate) reject_status: StatusCode,
}

/// A verifier's state (behind one `Arc`, shared by its clones).
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) extractor: Extractor,
    pub(crate) binding: Binding,
    /// The keys in service, the token cache and the key-set metrics.
    pub(crate) store: KeyStore,
    /// Every key source and the refresher's signal.
    pub(crate) keeper: Keeper,
}

impl Owner for Shared {
    fn store(&self) -> &KeyStore {
        &self.store
    }

    fn keeper(&self) -> &Keeper {
        &self.keeper
    }
}

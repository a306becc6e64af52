//! Rate limits (`[[route.rate_limit]]`) through the core's public API: the
//! GCRA against a reference model and the memory store under a key flood
//! (`gcra`); what each key reads, what spends budget, hostile inputs (`keys`).

mod gcra;
mod keys;

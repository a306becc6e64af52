//! Checks: `live` asks the servers (the `pins check` verb and the proxy's
//! monitor), [`platform`] asks each platform's rules about a chain — one
//! not yet served (`pins check-cert`, run before a rotation), or one seen
//! anywhere else.

mod live;
pub mod platform;

pub use live::{
    AddressCheck, AddressStatus, DomainCheck, EXPIRY_WARNING_SECS, Finding, PinResult, check_all,
    check_domain, check_domain_with, check_domains, check_domains_with, evaluate, statuses,
};
pub use platform::{Judgement, PinSet, Platform, judge};

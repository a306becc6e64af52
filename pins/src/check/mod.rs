//! Checks: `live` asks the servers (the `pins check` verb and the proxy's
//! monitor), `cert` asks the platforms' rules about a chain not yet served
//! (`pins check-cert`, run before a rotation).

mod cert;
mod live;

pub use cert::{CertCheck, Verdict, check_cert};
pub use live::{
    AddressCheck, AddressStatus, DomainCheck, EXPIRY_WARNING_SECS, Finding, PinResult, check_all,
    check_domain, check_domain_with, check_domains, evaluate, statuses,
};

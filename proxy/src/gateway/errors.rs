//! Pingora's errors as answers: the status the client gets (502 and 504
//! for upstream failures; the body is the core's `Refusal::own`), the upstream error counted,
//! and which connect failures mark an address as refusing.

use attestgate::UpstreamErrorKind;
use pingora_error::{Error, ErrorSource, ErrorType};

/// The status for a request that could not be proxied (0: no answer, the
/// client is gone) and the kind of upstream error to count, if any.
pub(super) fn status_of(e: &Error) -> (u16, Option<UpstreamErrorKind>) {
    match e.etype() {
        ErrorType::HTTPStatus(code) => (*code, None),
        ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => {
            (504, Some(UpstreamErrorKind::Timeout))
        }
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            (504, Some(UpstreamErrorKind::Timeout))
        }
        ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError => {
            (502, Some(UpstreamErrorKind::Connect))
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (502, Some(UpstreamErrorKind::Other)),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                    (0, None)
                }
                _ => (400, None),
            },
            ErrorSource::Internal | ErrorSource::Unset => (500, None),
        },
    }
}

/// The upstream address refused or could not be reached (`resolve_interval`
/// routes then skip it until the next resolve).
pub(super) fn is_connect_failure(e: &Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectTimedout
            | ErrorType::ConnectError
    )
}

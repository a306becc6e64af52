//! The answer a request gets instead of the upstream's, in one place for
//! both front ends: a token refusal ([`Refusal::new`]) and the proxy's own
//! answers (404, 431, 502, …: [`Refusal::own`]). Status, headers, body,
//! and for a gRPC call the gRPC status, message and trailers-only form.
//!
//! Also the one reading of "is this request gRPC" ([`grpc_kind`]): the
//! refusal's form and the proxy's choice of upstream peer both ask it.

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::reason::Reason;

/// `grpc-status` 16, UNAUTHENTICATED.
pub const GRPC_UNAUTHENTICATED: u16 = 16;
/// `grpc-status` 14, UNAVAILABLE (`no_keys`).
pub const GRPC_UNAVAILABLE: u16 = 14;
/// `grpc-status` 4, DEADLINE_EXCEEDED: the upstream did not answer in time.
const GRPC_DEADLINE_EXCEEDED: u16 = 4;
/// `grpc-status` 8, RESOURCE_EXHAUSTED: over a rate limit, or the request
/// headers are too large.
pub const GRPC_RESOURCE_EXHAUSTED: u16 = 8;
/// `grpc-status` 12, UNIMPLEMENTED: no route for the method.
const GRPC_UNIMPLEMENTED: u16 = 12;
/// `grpc-status` 13, INTERNAL: the request could not be forwarded.
const GRPC_INTERNAL: u16 = 13;

/// Which gRPC a request speaks, by its `content-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcKind {
    /// `application/grpc`, `application/grpc+proto`, `application/grpc;…`:
    /// HTTP/2 gRPC.
    Grpc,
    /// `application/grpc-web`, `-web+proto`, `-web-text`, …: gRPC-Web,
    /// made for HTTP/1.1.
    Web,
}

/// Whether the request is gRPC, and which: the `content-type` is
/// `application/grpc` or `application/grpc-web` or `application/grpc-web-text`
/// (ASCII case-insensitive), alone or followed by `+subtype`, `;params` or
/// a space. `application/grpcx` is not gRPC.
pub fn grpc_kind(headers: &HeaderMap) -> Option<GrpcKind> {
    let ct = headers.get(header::CONTENT_TYPE)?.as_bytes();
    let after = |prefix: &[u8]| -> Option<&[u8]> {
        let head = ct.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| &ct[prefix.len()..])
    };
    let ends = |rest: &[u8]| matches!(rest.first(), None | Some(b'+' | b';' | b' '));
    let rest = after(b"application/grpc")?;
    if ends(rest) {
        return Some(GrpcKind::Grpc);
    }
    let web = rest.get(..4).filter(|h| h.eq_ignore_ascii_case(b"-web"))?;
    let rest = &rest[web.len()..];
    let rest = match rest.get(..5) {
        Some(t) if t.eq_ignore_ascii_case(b"-text") => &rest[5..],
        _ => rest,
    };
    ends(rest).then_some(GrpcKind::Web)
}

/// Whether the request is gRPC or gRPC-Web ([`grpc_kind`]).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    grpc_kind(headers).is_some()
}

/// The content type a gRPC answer has: the request's own for gRPC-Web,
/// else `application/grpc`; `None` when the request is not gRPC.
pub fn grpc_content_type(headers: &HeaderMap) -> Option<HeaderValue> {
    match grpc_kind(headers)? {
        GrpcKind::Web => headers.get(header::CONTENT_TYPE).cloned(),
        GrpcKind::Grpc => Some(HeaderValue::from_static("application/grpc")),
    }
}

/// An answer the front end writes instead of forwarding. The reason of a
/// token refusal is never in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    body: &'static str,
    grpc: Option<GrpcAnswer>,
    /// Headers of its own (a rate limit's `Retry-After`, `RateLimit`).
    extra: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct GrpcAnswer {
    code: u16,
    message: &'static str,
    content_type: HeaderValue,
}

impl Refusal {
    /// The refusal for `reason` under a policy refusing with
    /// `reject_status`, for a request with these headers: HTTP
    /// `reject_status` (503 for `no_keys`) with `{}`; a gRPC request a
    /// trailers-only HTTP 200 with `grpc-status` 16 (14 for `no_keys`),
    /// gRPC-Web keeping its own content type.
    pub fn new(reason: Reason, reject_status: StatusCode, headers: &HeaderMap) -> Refusal {
        match grpc_content_type(headers) {
            Some(ct) => Refusal::grpc_with(reason, ct),
            None => Refusal {
                status: reason.status_under(reject_status),
                body: "{}",
                grpc: None,
                extra: Vec::new(),
            },
        }
    }

    /// A refusal other than a token's (a rate limit's): HTTP `status` with
    /// `{}`, or for a gRPC request a trailers-only `grpc-status`
    /// `grpc_code`; `extra` headers in both forms.
    pub(crate) fn other(
        status: StatusCode,
        grpc_code: u16,
        request: &HeaderMap,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Refusal {
        let mut refusal = match grpc_content_type(request) {
            Some(ct) => {
                let message = match grpc_code {
                    GRPC_RESOURCE_EXHAUSTED => "resource exhausted",
                    GRPC_UNAVAILABLE => "service unavailable",
                    _ => "request not forwarded",
                };
                Refusal::grpc_answer(grpc_code, message, ct)
            }
            None => Refusal {
                status,
                body: "{}",
                grpc: None,
                extra: Vec::new(),
            },
        };
        refusal.extra = extra;
        refusal
    }

    /// The gRPC form of the refusal for `reason`, whatever the request's
    /// content type (gRPC-Web keeps its own).
    pub fn grpc(reason: Reason, headers: &HeaderMap) -> Refusal {
        let ct = grpc_content_type(headers)
            .unwrap_or_else(|| HeaderValue::from_static("application/grpc"));
        Refusal::grpc_with(reason, ct)
    }

    fn grpc_with(reason: Reason, content_type: HeaderValue) -> Refusal {
        let (code, message) = if reason == Reason::NoKeys {
            (GRPC_UNAVAILABLE, "service unavailable")
        } else {
            (GRPC_UNAUTHENTICATED, "unauthenticated")
        };
        Refusal::grpc_answer(code, message, content_type)
    }

    fn grpc_answer(code: u16, message: &'static str, content_type: HeaderValue) -> Refusal {
        Refusal {
            status: StatusCode::OK,
            body: "",
            grpc: Some(GrpcAnswer {
                code,
                message,
                content_type,
            }),
            extra: Vec::new(),
        }
    }

    /// An answer the proxy gives itself, not a token refusal (400, 404,
    /// 431, 502, 504, …): a small JSON body, or for a gRPC call the gRPC
    /// status a client can read (a JSON body would be read as a broken
    /// gRPC frame). The gRPC codes follow gRPC's HTTP-to-status mapping
    /// where it has one (400 INTERNAL, 404 UNIMPLEMENTED, 502/503
    /// UNAVAILABLE), and for 431 and 504 the codes gRPC servers use for
    /// the same events.
    pub fn own(status: StatusCode, headers: &HeaderMap) -> Refusal {
        let Some(ct) = grpc_content_type(headers) else {
            let body = match status {
                StatusCode::BAD_GATEWAY => "{\"error\":\"bad gateway\"}",
                StatusCode::GATEWAY_TIMEOUT => "{\"error\":\"gateway timeout\"}",
                _ => "{}",
            };
            return Refusal {
                status,
                body,
                grpc: None,
                extra: Vec::new(),
            };
        };
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (GRPC_UNIMPLEMENTED, "no route"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                (GRPC_RESOURCE_EXHAUSTED, "request headers too large")
            }
            StatusCode::BAD_GATEWAY => (GRPC_UNAVAILABLE, "bad gateway"),
            StatusCode::SERVICE_UNAVAILABLE => (GRPC_UNAVAILABLE, "service unavailable"),
            StatusCode::GATEWAY_TIMEOUT => (GRPC_DEADLINE_EXCEEDED, "gateway timeout"),
            StatusCode::BAD_REQUEST => (GRPC_INTERNAL, "bad request"),
            _ => (GRPC_INTERNAL, "request not forwarded"),
        };
        Refusal::grpc_answer(code, message, ct)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `grpc-status` of a gRPC refusal.
    pub fn grpc_status(&self) -> Option<u16> {
        self.grpc.as_ref().map(|g| g.code)
    }

    /// The body: a small JSON text for HTTP, nothing for gRPC.
    pub fn body(&self) -> &'static str {
        self.body
    }

    /// Whether the answer is gRPC's trailers-only form: the headers end
    /// the stream (over HTTP/2 one HEADERS frame with END_STREAM, nothing
    /// else), which every gRPC client reads as the status.
    pub fn is_trailers_only(&self) -> bool {
        self.grpc.is_some()
    }

    /// The response headers (besides framing: `content-length` is the
    /// front end's): `content-type`, `cache-control: no-store`, and for
    /// gRPC `grpc-status` and `grpc-message`; then the refusal's own
    /// (a rate limit's `Retry-After`, `RateLimit`, `RateLimit-Policy`).
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(4);
        match &self.grpc {
            None => out.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )),
            Some(g) => {
                out.push((header::CONTENT_TYPE, g.content_type.clone()));
                out.push((
                    HeaderName::from_static("grpc-status"),
                    HeaderValue::from(g.code),
                ));
                out.push((
                    HeaderName::from_static("grpc-message"),
                    HeaderValue::from_static(g.message),
                ));
            }
        }
        out.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        out.extend(self.extra.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    /// One reading of gRPC for the refusal and for the proxy's peer choice:
    /// once the refusal took every `application/grpc…` prefix while the
    /// proxy's peer choice took only whole media types, so
    /// `application/grpcx` was refused as gRPC yet forwarded as plain HTTP.
    #[test]
    fn grpc_kind_reads_whole_media_types_only() {
        use GrpcKind::{Grpc, Web};
        for (ct, want) in [
            ("application/grpc", Some(Grpc)),
            ("application/grpc+proto", Some(Grpc)),
            ("Application/GRPC+json", Some(Grpc)),
            ("application/grpc; charset=utf-8", Some(Grpc)),
            ("application/grpc;x=y", Some(Grpc)),
            ("application/grpc-web", Some(Web)),
            ("application/grpc-web+proto", Some(Web)),
            ("application/grpc-web-text", Some(Web)),
            ("application/grpc-web-text+proto", Some(Web)),
            ("APPLICATION/GRPC-WEB-TEXT", Some(Web)),
            ("application/grpcx", None),
            ("application/grpc-webx", None),
            ("application/grpc-web-textx", None),
            ("application/grpc-", None),
            ("application/grp", None),
            ("application/json", None),
            ("text/application/grpc", None),
            ("", None),
        ] {
            assert_eq!(grpc_kind(&headers(ct)), want, "{ct:?}");
            let r = Refusal::new(Reason::Missing, StatusCode::UNAUTHORIZED, &headers(ct));
            assert_eq!(r.is_trailers_only(), want.is_some(), "{ct:?}");
            assert_eq!(r.grpc_status().is_some(), want.is_some(), "{ct:?}");
        }
        assert_eq!(grpc_kind(&HeaderMap::new()), None);
    }

    #[test]
    fn refusals_for_http_and_grpc() {
        let http = Refusal::new(Reason::Expired, StatusCode::FORBIDDEN, &HeaderMap::new());
        assert_eq!(
            (http.status(), http.body(), http.grpc_status()),
            (StatusCode::FORBIDDEN, "{}", None)
        );
        let no_keys = Refusal::new(Reason::NoKeys, StatusCode::FORBIDDEN, &HeaderMap::new());
        assert_eq!(no_keys.status(), StatusCode::SERVICE_UNAVAILABLE);
        // reject_status 503 does not make a gRPC refusal UNAVAILABLE: the
        // reason does.
        for (ct, want_ct) in [
            ("application/grpc", "application/grpc"),
            ("Application/GRPC+proto", "application/grpc"),
            ("application/grpc-web+proto", "application/grpc-web+proto"),
            ("application/grpc-web-text", "application/grpc-web-text"),
        ] {
            let r = Refusal::new(
                Reason::Missing,
                StatusCode::SERVICE_UNAVAILABLE,
                &headers(ct),
            );
            assert_eq!(
                (r.status(), r.grpc_status(), r.body()),
                (StatusCode::OK, Some(16), "")
            );
            let h = r.headers();
            assert_eq!(h[0].1, want_ct, "{ct}");
            let r = Refusal::new(Reason::NoKeys, StatusCode::UNAUTHORIZED, &headers(ct));
            assert_eq!(r.grpc_status(), Some(14));
        }
    }

    #[test]
    fn no_refusal_names_its_reason() {
        for reason in Reason::ALL {
            for h in [HeaderMap::new(), headers("application/grpc")] {
                let r = Refusal::new(reason, StatusCode::UNAUTHORIZED, &h);
                for (_, v) in r.headers() {
                    assert!(!v.to_str().unwrap().contains(reason.as_str()), "{reason}");
                }
            }
        }
    }

    #[test]
    fn own_answers_map_to_the_grpc_codes_clients_expect() {
        let grpc = headers("application/grpc");
        for (status, code) in [
            (400, GRPC_INTERNAL),
            (404, GRPC_UNIMPLEMENTED),
            (431, GRPC_RESOURCE_EXHAUSTED),
            (500, GRPC_INTERNAL),
            (502, GRPC_UNAVAILABLE),
            (503, GRPC_UNAVAILABLE),
            (504, GRPC_DEADLINE_EXCEEDED),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            let r = Refusal::own(status, &grpc);
            assert_eq!((r.status(), r.grpc_status()), (StatusCode::OK, Some(code)));
            let message = &r.headers()[2].1;
            assert!(!message.is_empty() && message.to_str().is_ok(), "{status}");
            let http = Refusal::own(status, &HeaderMap::new());
            assert_eq!((http.status(), http.grpc_status()), (status, None));
            assert!(http.body().starts_with('{'), "{status}");
        }
    }
}

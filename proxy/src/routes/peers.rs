//! The peers of one route: the same upstream, spoken to as the route's
//! `protocol` says, one peer per HTTP version a request
//! may need (docs/DECISIONS.md, "HTTP/2, gRPC and WebSocket").

use attestgate_config::UpstreamProtocol;
use http::{Version, header};
use pingora_core::protocols::ALPN;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;

/// Concurrent HTTP/2 streams Pingora opens on one upstream connection
/// before it opens another (its default is 1: one connection per call).
const H2_STREAMS_PER_CONNECTION: usize = 100;

/// The peers of one route, built once at start: the same upstream, spoken
/// to as the route's `protocol` says. Pingora does the rest:
/// ALPN [`ALPN::H2`] on a plaintext peer is HTTP/2 with prior knowledge
/// (h2c); on a TLS peer it is what the handshake offers.
pub(crate) struct Peers {
    /// Requests that are neither gRPC nor an upgrade.
    plain: HttpPeer,
    /// gRPC calls (`content-type: application/grpc`, `application/grpc+…`).
    grpc: HttpPeer,
    /// Upgrade requests (WebSocket): HTTP/1.1, the only version that has
    /// `Upgrade`.
    upgrade: HttpPeer,
}

impl Peers {
    /// The peers for `protocol`, from one peer that has the route's
    /// address, TLS and timeouts. `demo` (the built-in echo, a Unix socket)
    /// speaks HTTP/1.1 only.
    pub(super) fn new(base: HttpPeer, protocol: UpstreamProtocol) -> Peers {
        let tls = base.is_tls();
        let with = |alpn: ALPN| {
            let mut p = base.clone();
            if alpn.get_max_http_version() == 2 {
                p.options.max_h2_streams = H2_STREAMS_PER_CONNECTION;
            }
            p.options.alpn = alpn;
            p
        };
        let http1 = with(ALPN::H1);
        let (plain, grpc) = match protocol {
            UpstreamProtocol::Http1 => (http1.clone(), http1.clone()),
            UpstreamProtocol::H2 => (with(ALPN::H2), with(ALPN::H2)),
            UpstreamProtocol::Auto if tls => (with(ALPN::H2H1), with(ALPN::H2)),
            UpstreamProtocol::Auto => (http1.clone(), with(ALPN::H2)),
        };
        Peers {
            plain,
            grpc,
            upgrade: http1,
        }
    }

    /// The peer for this request: an upgrade goes as HTTP/1.1, a gRPC call
    /// as the route's gRPC peer, the rest as the plain one. Reads only the
    /// request's version and headers; the address is the route's.
    pub(crate) fn for_request(&self, req: &RequestHeader) -> &HttpPeer {
        if req.version == Version::HTTP_11 && req.headers.contains_key(header::UPGRADE) {
            &self.upgrade
        } else if is_grpc_not_web(req) {
            &self.grpc
        } else {
            &self.plain
        }
    }
}

/// `application/grpc`, `application/grpc+proto`, `application/grpc;…`
/// and not gRPC-Web, which is made for HTTP/1.1 and goes like any other
/// request: the core's reading ([`attestgate::grpc_kind`]), the one its
/// refusals use.
fn is_grpc_not_web(req: &RequestHeader) -> bool {
    attestgate::grpc_kind(&req.headers) == Some(attestgate::GrpcKind::Grpc)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn peer(tls: bool) -> HttpPeer {
        HttpPeer::new("127.0.0.1:9000", tls, "localhost".into())
    }

    fn req(version: Version, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/x", None).unwrap();
        r.set_version(version);
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    /// (max, min) HTTP version of the peer the request gets.
    fn versions(p: &Peers, r: &RequestHeader) -> (u8, u8) {
        let a = &p.for_request(r).options.alpn;
        (a.get_max_http_version(), a.get_min_http_version())
    }

    #[test]
    fn each_protocol_picks_its_versions() {
        let grpc = req(Version::HTTP_2, &[("content-type", "application/grpc")]);
        let plain = req(Version::HTTP_2, &[("content-type", "application/json")]);
        let ws = req(
            Version::HTTP_11,
            &[("upgrade", "websocket"), ("connection", "upgrade")],
        );
        let web = req(
            Version::HTTP_11,
            &[("content-type", "application/grpc-web+proto")],
        );
        // (protocol, tls, grpc, plain, upgrade, grpc-web)
        let table = [
            (
                UpstreamProtocol::Auto,
                false,
                (2, 2),
                (1, 1),
                (1, 1),
                (1, 1),
            ),
            (UpstreamProtocol::Auto, true, (2, 2), (2, 1), (1, 1), (2, 1)),
            (UpstreamProtocol::H2, false, (2, 2), (2, 2), (1, 1), (2, 2)),
            (UpstreamProtocol::H2, true, (2, 2), (2, 2), (1, 1), (2, 2)),
            (
                UpstreamProtocol::Http1,
                false,
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
            ),
            (
                UpstreamProtocol::Http1,
                true,
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
            ),
        ];
        for (protocol, tls, g, p, u, w) in table {
            let peers = Peers::new(peer(tls), protocol);
            let got = (
                versions(&peers, &grpc),
                versions(&peers, &plain),
                versions(&peers, &ws),
                versions(&peers, &web),
            );
            assert_eq!(got, (g, p, u, w), "{protocol:?} tls={tls}");
        }
    }

    #[test]
    fn grpc_content_types() {
        for (ct, want) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("Application/GRPC+json", true),
            ("application/grpc; charset=utf-8", true),
            ("application/grpc-web", false),
            ("application/grpc-web-text", false),
            ("application/grpcx", false),
            ("application/json", false),
            ("text/application/grpc", false),
            ("", false),
        ] {
            assert_eq!(
                is_grpc_not_web(&req(Version::HTTP_2, &[("content-type", ct)])),
                want,
                "{ct:?}"
            );
        }
        assert!(!is_grpc_not_web(&req(Version::HTTP_2, &[])));
    }

    #[test]
    fn http2_peers_multiplex_and_keep_the_route_settings() {
        let mut base = peer(false);
        base.options.read_timeout = Some(Duration::from_secs(7));
        let peers = Peers::new(base, UpstreamProtocol::Auto);
        assert_eq!(peers.grpc.options.max_h2_streams, H2_STREAMS_PER_CONNECTION);
        assert_eq!(
            peers.grpc.options.read_timeout,
            Some(Duration::from_secs(7))
        );
        assert_eq!(peers.plain.options.max_h2_streams, 1);
        assert_eq!(
            peers.upgrade.options.read_timeout,
            Some(Duration::from_secs(7))
        );
    }
}

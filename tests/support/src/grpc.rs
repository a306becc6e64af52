//! A real tonic gRPC server (h2c or TLS with ALPN h2) that records the
//! metadata of every call it gets, and tonic channels to reach it or the
//! proxy in front of it.
//!
//! It serves two services:
//! - `attestgate.demo.Demo` (the tower layer example's committed code,
//!   `tower-layer/examples/proto/demo.rs`): `Hello` (unary) and `Count`
//!   (server streaming);
//! - `attestgate.demo.Relay` ([`relay`], written here the same way):
//!   `Join` (client streaming) and `Chat` (bidirectional), with message
//!   size limits raised to [`BIG`] for the large-message cases.
//!
//! Behaviour scripted by the request (so a test says what it wants):
//! - `Hello` with name `sleep:MS` sleeps MS milliseconds first; name
//!   `fail` answers `RESOURCE_EXHAUSTED` with trailer `x-upstream-trailer`;
//!   every `Hello` answer carries response header `x-upstream-header`.
//! - `Count` with count above 1000 sends three numbers, then fails with
//!   `DATA_LOSS` and trailer `x-upstream-trailer`.
//! - `Chat` answers each message `m` with `hello, m` as soon as it arrives.
//! - `Join` answers, at the end of the stream, the names joined by `,`,
//!   and in `device` the total of their lengths.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::codegen::tokio_stream::{self, StreamExt};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};
use tonic::{Code, Request, Response, Status};

#[path = "../../../tower-layer/examples/proto/demo.rs"]
pub mod demo;
pub mod relay;

use demo::demo_server::{Demo, DemoServer};
use demo::{CountReply, CountRequest, HelloReply, HelloRequest};

/// Message size limit of the relay service and client (both ways).
pub const BIG: usize = 16 * 1024 * 1024;

/// One call as the server saw it.
#[derive(Clone, Debug)]
pub struct SeenCall {
    /// `Hello`, `Count`, `Join` or `Chat`.
    pub method: &'static str,
    /// The request metadata (HTTP/2 headers, pseudo-headers excluded).
    pub headers: http::HeaderMap,
}

impl SeenCall {
    /// The value of metadata `name`, if it came exactly once.
    pub fn one(&self, name: &str) -> Option<String> {
        let mut all = self.headers.get_all(name).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            _ => None,
        }
    }
}

/// What the server has seen.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<SeenCall>>>);

impl Recorder {
    fn record(&self, method: &'static str, md: &MetadataMap) {
        self.0.lock().unwrap().push(SeenCall {
            method,
            headers: md.clone().into_headers(),
        });
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<SeenCall> {
        self.0.lock().unwrap().clone()
    }

    /// How many calls arrived.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn trailer_status(code: Code, message: &str) -> Status {
    let mut md = MetadataMap::new();
    md.insert("x-upstream-trailer", MetadataValue::from_static("kept"));
    Status::with_metadata(code, message, md)
}

#[tonic::async_trait]
impl Demo for Recorder {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.record("Hello", request.metadata());
        let name = request.into_inner().name;
        if let Some(ms) = name.strip_prefix("sleep:") {
            let ms: u64 = ms
                .parse()
                .map_err(|_| Status::invalid_argument("sleep:MS"))?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if name == "fail" {
            return Err(trailer_status(Code::ResourceExhausted, "upstream says no"));
        }
        let mut response = Response::new(HelloReply {
            message: format!("hello, {name}"),
            device: String::new(),
        });
        response
            .metadata_mut()
            .insert("x-upstream-header", MetadataValue::from_static("sent"));
        Ok(response)
    }

    type CountStream = tokio_stream::Iter<std::vec::IntoIter<Result<CountReply, Status>>>;

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        self.record("Count", request.metadata());
        let count = request.get_ref().count;
        let items: Vec<_> = if count > 1000 {
            (1..=3)
                .map(|n| Ok(CountReply { n }))
                .chain([Err(trailer_status(Code::DataLoss, "stream broke"))])
                .collect()
        } else {
            (1..=count).map(|n| Ok(CountReply { n })).collect()
        };
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

#[tonic::async_trait]
impl relay::Relay for Recorder {
    async fn join(
        &self,
        request: Request<tonic::Streaming<HelloRequest>>,
    ) -> Result<Response<HelloReply>, Status> {
        self.record("Join", request.metadata());
        let mut stream = request.into_inner();
        let mut names = Vec::new();
        let mut total = 0usize;
        while let Some(m) = stream.next().await {
            let m = m?;
            total += m.name.len();
            names.push(m.name);
        }
        Ok(Response::new(HelloReply {
            message: names.join(","),
            device: total.to_string(),
        }))
    }

    type ChatStream = relay::BoxStream<HelloReply>;

    async fn chat(
        &self,
        request: Request<tonic::Streaming<HelloRequest>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        self.record("Chat", request.metadata());
        let stream = request.into_inner().map(|m| {
            m.map(|m| HelloReply {
                message: format!("hello, {}", m.name),
                device: String::new(),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A running gRPC upstream.
pub struct GrpcUpstream {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    /// What it has seen.
    pub seen: Recorder,
}

impl GrpcUpstream {
    /// A plaintext (h2c) server.
    pub async fn start() -> GrpcUpstream {
        GrpcUpstream::start_with(None).await
    }

    /// A TLS server (ALPN h2) with the kit's certificate `localhost`.
    pub async fn start_tls() -> GrpcUpstream {
        let cert = std::fs::read(crate::tls::path("localhost.pem")).unwrap();
        let key = std::fs::read(crate::tls::path("localhost.key")).unwrap();
        GrpcUpstream::start_with(Some(
            ServerTlsConfig::new().identity(Identity::from_pem(cert, key)),
        ))
        .await
    }

    async fn start_with(tls: Option<ServerTlsConfig>) -> GrpcUpstream {
        let seen = Recorder::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).unwrap();
        }
        let router = builder
            .add_service(DemoServer::new(seen.clone()))
            .add_service(relay::RelayServer::new(seen.clone()));
        tokio::spawn(async move {
            router
                .serve_with_incoming(TcpIncoming::from(listener))
                .await
                .unwrap();
        });
        GrpcUpstream { addr, seen }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://localhost:PORT` (the name on the kit's certificate).
    pub fn tls_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

/// One HTTP/2 connection with prior knowledge (h2c) to `addr`.
pub async fn h2c_channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// One HTTP/2 connection over TLS (ALPN h2) to `addr`, trusting only the
/// kit's CA and checking the name `localhost`.
pub async fn tls_channel(addr: SocketAddr) -> Channel {
    let ca = std::fs::read(crate::tls::path("ca.pem")).unwrap();
    Endpoint::from_shared(format!("https://127.0.0.1:{}", addr.port()))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// `msg` with these metadata entries.
pub fn with_metadata<T>(msg: T, entries: &[(&str, &str)]) -> Request<T> {
    let mut req = Request::new(msg);
    for (k, v) in entries {
        req.metadata_mut().append(
            tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).unwrap(),
            MetadataValue::try_from(*v).unwrap(),
        );
    }
    req
}

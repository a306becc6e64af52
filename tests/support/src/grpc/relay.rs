//! `attestgate.demo.Relay`: the two streaming call kinds the demo service
//! lacks, written by hand in the shape tonic-build 0.14 generates (as
//! `demo.rs` is), over the demo's messages:
//!
//! ```proto
//! service Relay {
//!   rpc Join(stream HelloRequest) returns (HelloReply);
//!   rpc Chat(stream HelloRequest) returns (stream HelloReply);
//! }
//! ```
//!
//! Both ends raise tonic's 4 MiB message limit to [`super::BIG`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::tokio_stream::Stream;
use tonic::codegen::{BoxFuture, StdError, async_trait, http};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::BIG;
use super::demo::{HelloReply, HelloRequest};

/// A boxed response stream.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

const JOIN: &str = "/attestgate.demo.Relay/Join";
const CHAT: &str = "/attestgate.demo.Relay/Chat";

/// What an implementation of `attestgate.demo.Relay` provides.
#[async_trait]
pub trait Relay: Send + Sync + 'static {
    /// Client streaming.
    async fn join(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<HelloReply>, Status>;

    /// The stream `chat` answers with.
    type ChatStream: Stream<Item = Result<HelloReply, Status>> + Send + 'static;

    /// Bidirectional streaming.
    async fn chat(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<Self::ChatStream>, Status>;
}

/// The server side, for `tonic::transport::Server::add_service`.
pub struct RelayServer<T> {
    inner: Arc<T>,
}

impl<T> RelayServer<T> {
    pub fn new(inner: T) -> Self {
        RelayServer {
            inner: Arc::new(inner),
        }
    }
}

impl<T> Clone for RelayServer<T> {
    fn clone(&self) -> Self {
        RelayServer {
            inner: self.inner.clone(),
        }
    }
}

impl<T> tonic::server::NamedService for RelayServer<T> {
    const NAME: &'static str = "attestgate.demo.Relay";
}

struct JoinSvc<T>(Arc<T>);

impl<T: Relay> tonic::server::ClientStreamingService<HelloRequest> for JoinSvc<T> {
    type Response = HelloReply;
    type Future = BoxFuture<Response<HelloReply>, Status>;
    fn call(&mut self, request: Request<Streaming<HelloRequest>>) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move { inner.join(request).await })
    }
}

struct ChatSvc<T>(Arc<T>);

impl<T: Relay> tonic::server::StreamingService<HelloRequest> for ChatSvc<T> {
    type Response = HelloReply;
    type ResponseStream = T::ChatStream;
    type Future = BoxFuture<Response<T::ChatStream>, Status>;
    fn call(&mut self, request: Request<Streaming<HelloRequest>>) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move { inner.chat(request).await })
    }
}

fn server_grpc() -> tonic::server::Grpc<tonic_prost::ProstCodec<HelloReply, HelloRequest>> {
    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
        .max_decoding_message_size(BIG)
        .max_encoding_message_size(BIG)
}

impl<T, B> tonic::codegen::Service<http::Request<B>> for RelayServer<T>
where
    T: Relay,
    B: http_body::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        match req.uri().path() {
            JOIN => {
                Box::pin(
                    async move { Ok(server_grpc().client_streaming(JoinSvc(inner), req).await) },
                )
            }
            CHAT => Box::pin(async move { Ok(server_grpc().streaming(ChatSvc(inner), req).await) }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// The client side.
#[derive(Clone)]
pub struct RelayClient {
    inner: tonic::client::Grpc<Channel>,
}

impl RelayClient {
    pub fn new(channel: Channel) -> RelayClient {
        RelayClient {
            inner: tonic::client::Grpc::new(channel)
                .max_decoding_message_size(BIG)
                .max_encoding_message_size(BIG),
        }
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("service was not ready: {e}")))
    }

    /// `Join`: client streaming.
    pub async fn join<S>(&mut self, request: Request<S>) -> Result<Response<HelloReply>, Status>
    where
        S: Stream<Item = HelloRequest> + Send + 'static,
    {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static(JOIN);
        self.inner
            .client_streaming(request, path, tonic_prost::ProstCodec::default())
            .await
    }

    /// `Chat`: bidirectional streaming.
    pub async fn chat<S>(
        &mut self,
        request: Request<S>,
    ) -> Result<Response<Streaming<HelloReply>>, Status>
    where
        S: Stream<Item = HelloRequest> + Send + 'static,
    {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static(CHAT);
        self.inner
            .streaming(request, path, tonic_prost::ProstCodec::default())
            .await
    }
}

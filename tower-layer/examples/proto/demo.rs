// Code for `demo.proto` (package `attestgate.demo`).
//
// Written by hand in the shape tonic-build 0.14 / tonic-prost-build generate
// (prost messages, a `demo_server` and a `demo_client` module), using only
// tonic's public codegen APIs (`tonic::server::Grpc`, `tonic::client::Grpc`,
// `tonic_prost::ProstCodec`), so that building needs neither protoc nor a
// build script. If you change demo.proto, change this file to match: the
// field tags and the method paths below must agree with it.
#![allow(dead_code, missing_docs, unreachable_pub, clippy::all)]

#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: ::prost::alloc::string::String,
}

#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: ::prost::alloc::string::String,
    /// The `did` claim of the verified token, empty when there is none.
    #[prost(string, tag = "2")]
    pub device: ::prost::alloc::string::String,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, ::prost::Message)]
pub struct CountRequest {
    #[prost(uint32, tag = "1")]
    pub count: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, ::prost::Message)]
pub struct CountReply {
    #[prost(uint32, tag = "1")]
    pub n: u32,
}

/// Client for `attestgate.demo.Demo`.
pub mod demo_client {
    use tonic::codegen::http::Uri;
    use tonic::codegen::*;

    #[derive(Debug, Clone)]
    pub struct DemoClient<T> {
        inner: tonic::client::Grpc<T>,
    }

    impl DemoClient<tonic::transport::Channel> {
        /// Connects to `dst` (e.g. `http://127.0.0.1:50051`).
        pub async fn connect<D>(dst: D) -> Result<Self, tonic::transport::Error>
        where
            D: TryInto<tonic::transport::Endpoint>,
            D::Error: Into<StdError>,
        {
            let conn = tonic::transport::Endpoint::new(dst)?.connect().await?;
            Ok(Self::new(conn))
        }
    }

    impl<T> DemoClient<T>
    where
        T: tonic::client::GrpcService<tonic::body::Body>,
        T::Error: Into<StdError>,
        T::ResponseBody: Body<Data = Bytes> + std::marker::Send + 'static,
        <T::ResponseBody as Body>::Error: Into<StdError> + std::marker::Send,
    {
        pub fn new(inner: T) -> Self {
            let inner = tonic::client::Grpc::new(inner);
            Self { inner }
        }

        pub fn with_origin(inner: T, origin: Uri) -> Self {
            let inner = tonic::client::Grpc::with_origin(inner, origin);
            Self { inner }
        }

        pub async fn hello(
            &mut self,
            request: impl tonic::IntoRequest<super::HelloRequest>,
        ) -> std::result::Result<tonic::Response<super::HelloReply>, tonic::Status> {
            self.inner.ready().await.map_err(|e| {
                tonic::Status::unknown(format!("Service was not ready: {}", e.into()))
            })?;
            let codec = tonic_prost::ProstCodec::default();
            let path = http::uri::PathAndQuery::from_static("/attestgate.demo.Demo/Hello");
            let mut req = request.into_request();
            req.extensions_mut()
                .insert(GrpcMethod::new("attestgate.demo.Demo", "Hello"));
            self.inner.unary(req, path, codec).await
        }

        pub async fn count(
            &mut self,
            request: impl tonic::IntoRequest<super::CountRequest>,
        ) -> std::result::Result<
            tonic::Response<tonic::codec::Streaming<super::CountReply>>,
            tonic::Status,
        > {
            self.inner.ready().await.map_err(|e| {
                tonic::Status::unknown(format!("Service was not ready: {}", e.into()))
            })?;
            let codec = tonic_prost::ProstCodec::default();
            let path = http::uri::PathAndQuery::from_static("/attestgate.demo.Demo/Count");
            let mut req = request.into_request();
            req.extensions_mut()
                .insert(GrpcMethod::new("attestgate.demo.Demo", "Count"));
            self.inner.server_streaming(req, path, codec).await
        }
    }
}

/// Server for `attestgate.demo.Demo`.
pub mod demo_server {
    use tonic::codegen::*;

    /// What an implementation of `attestgate.demo.Demo` provides.
    #[async_trait]
    pub trait Demo: std::marker::Send + std::marker::Sync + 'static {
        async fn hello(
            &self,
            request: tonic::Request<super::HelloRequest>,
        ) -> std::result::Result<tonic::Response<super::HelloReply>, tonic::Status>;

        /// The stream `count` answers with.
        type CountStream: tokio_stream::Stream<Item = std::result::Result<super::CountReply, tonic::Status>>
            + std::marker::Send
            + 'static;

        async fn count(
            &self,
            request: tonic::Request<super::CountRequest>,
        ) -> std::result::Result<tonic::Response<Self::CountStream>, tonic::Status>;
    }

    #[derive(Debug)]
    pub struct DemoServer<T> {
        inner: Arc<T>,
    }

    impl<T> DemoServer<T> {
        pub fn new(inner: T) -> Self {
            Self::from_arc(Arc::new(inner))
        }

        pub fn from_arc(inner: Arc<T>) -> Self {
            Self { inner }
        }
    }

    impl<T, B> tonic::codegen::Service<http::Request<B>> for DemoServer<T>
    where
        T: Demo,
        B: Body + std::marker::Send + 'static,
        B::Error: Into<StdError> + std::marker::Send + 'static,
    {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(
            &mut self,
            _cx: &mut Context<'_>,
        ) -> Poll<std::result::Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            match req.uri().path() {
                "/attestgate.demo.Demo/Hello" => {
                    struct HelloSvc<T: Demo>(pub Arc<T>);
                    impl<T: Demo> tonic::server::UnaryService<super::HelloRequest> for HelloSvc<T> {
                        type Response = super::HelloReply;
                        type Future = BoxFuture<tonic::Response<Self::Response>, tonic::Status>;
                        fn call(
                            &mut self,
                            request: tonic::Request<super::HelloRequest>,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move { <T as Demo>::hello(&inner, request).await };
                            Box::pin(fut)
                        }
                    }
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = HelloSvc(inner);
                        let codec = tonic_prost::ProstCodec::default();
                        let mut grpc = tonic::server::Grpc::new(codec);
                        let res = grpc.unary(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                "/attestgate.demo.Demo/Count" => {
                    struct CountSvc<T: Demo>(pub Arc<T>);
                    impl<T: Demo> tonic::server::ServerStreamingService<super::CountRequest> for CountSvc<T> {
                        type Response = super::CountReply;
                        type ResponseStream = T::CountStream;
                        type Future =
                            BoxFuture<tonic::Response<Self::ResponseStream>, tonic::Status>;
                        fn call(
                            &mut self,
                            request: tonic::Request<super::CountRequest>,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move { <T as Demo>::count(&inner, request).await };
                            Box::pin(fut)
                        }
                    }
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = CountSvc(inner);
                        let codec = tonic_prost::ProstCodec::default();
                        let mut grpc = tonic::server::Grpc::new(codec);
                        let res = grpc.server_streaming(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                _ => Box::pin(async move {
                    let mut response = http::Response::new(tonic::body::Body::default());
                    let headers = response.headers_mut();
                    headers.insert(
                        tonic::Status::GRPC_STATUS,
                        (tonic::Code::Unimplemented as i32).into(),
                    );
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/grpc"),
                    );
                    Ok(response)
                }),
            }
        }
    }

    impl<T> Clone for DemoServer<T> {
        fn clone(&self) -> Self {
            Self {
                inner: self.inner.clone(),
            }
        }
    }

    /// Generated gRPC service name.
    pub const SERVICE_NAME: &str = "attestgate.demo.Demo";

    impl<T> tonic::server::NamedService for DemoServer<T> {
        const NAME: &'static str = SERVICE_NAME;
    }
}

//! A minimal gRPC (h2c) upstream for load tests (benches/load.sh): the demo
//! service's `Hello` answers `hello, NAME`, on one thread, recording
//! nothing.
//!
//! `grpc-upstream [ADDR]` (default 127.0.0.1:50051).

use attestgate_testkit::grpc::demo::demo_server::{Demo, DemoServer};
use attestgate_testkit::grpc::demo::{CountReply, CountRequest, HelloReply, HelloRequest};
use tonic::codegen::tokio_stream;
use tonic::{Request, Response, Status};

struct Fast;

#[tonic::async_trait]
impl Demo for Fast {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: format!("hello, {}", request.get_ref().name),
            device: String::new(),
        }))
    }

    type CountStream = tokio_stream::Iter<std::vec::IntoIter<Result<CountReply, Status>>>;

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        let items: Vec<_> = (1..=request.get_ref().count.min(1000))
            .map(|n| Ok(CountReply { n }))
            .collect();
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_owned())
        .parse()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        eprintln!("grpc-upstream listening on {addr}");
        tonic::transport::Server::builder()
            .add_service(DemoServer::new(Fast))
            .serve(addr)
            .await
    })?;
    Ok(())
}

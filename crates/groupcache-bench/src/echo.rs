//! The limit: a bare tonic server answering every `Get` (and `Fetch`) with
//! one fixed payload, no cache, no routing. Driving it with the same tool in
//! the same run shows what gRPC itself costs on this machine, so a node's
//! throughput can be reported as a fraction of it.

use std::future::Future;

use bytes::Bytes;
use cache_grpc::pb;
use cache_grpc::pb::groupcache_server::{Groupcache, GroupcacheServer};
use cache_grpc::pb::{
    FetchManyRequest, FetchManyResponse, FetchRequest, FetchResponse, GetManyRequest,
    GetManyResponse, GetRequest, GetResponse, KeyResult, PutRequest, PutResponse, StatsRequest,
    StatsResponse,
};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// Answers every `Get`/`Fetch` with the same payload (a cheap `Bytes`
/// clone); `Stats` names the node `echo` and lists no groups.
#[derive(Debug, Clone)]
pub struct EchoService {
    payload: Bytes,
}

impl EchoService {
    /// A service answering with `size` bytes (the byte `i` is `i % 251`).
    #[must_use]
    pub fn new(size: usize) -> Self {
        EchoService {
            payload: (0..size)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into(),
        }
    }
}

#[tonic::async_trait]
impl Groupcache for EchoService {
    async fn get(&self, _req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        Ok(Response::new(GetResponse {
            value: self.payload.clone(),
            ttl_ms: 0,
        }))
    }

    async fn fetch(&self, _req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        Ok(Response::new(FetchResponse {
            value: self.payload.clone(),
            minute_qps: 0.0,
            ttl_ms: 0,
            stale: false,
        }))
    }

    async fn stats(&self, _req: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        Ok(Response::new(StatsResponse {
            node: "echo".into(),
            ..StatsResponse::default()
        }))
    }

    async fn put(&self, _req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    async fn remove(
        &self,
        _req: Request<pb::RemoveRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    async fn set(
        &self,
        _req: Request<pb::SetRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    async fn invalidate(
        &self,
        _req: Request<pb::InvalidateRequest>,
    ) -> Result<Response<pb::InvalidateResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    async fn store(
        &self,
        _req: Request<pb::SetRequest>,
    ) -> Result<Response<pb::StoreResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    /// Every key answered with the payload (the limit of `--batch` runs).
    async fn get_many(
        &self,
        req: Request<GetManyRequest>,
    ) -> Result<Response<GetManyResponse>, Status> {
        let results = req
            .into_inner()
            .keys
            .into_iter()
            .map(|key| KeyResult {
                key,
                value: self.payload.clone(),
                ..KeyResult::default()
            })
            .collect();
        Ok(Response::new(GetManyResponse { results }))
    }

    async fn fetch_many(
        &self,
        _req: Request<FetchManyRequest>,
    ) -> Result<Response<FetchManyResponse>, Status> {
        Err(Status::unimplemented("the echo server has no peers"))
    }
}

/// Serves [`EchoService`] with `size`-byte answers on `listener` (TCP_NODELAY
/// on) until `shutdown` completes.
pub async fn serve_echo(
    listener: TcpListener,
    size: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let svc = GroupcacheServer::new(EchoService::new(size))
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(size.saturating_add(1 << 20));
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

//! [`build`] and [`for_listener`]: the whole service a node runs, built
//! once, whichever transport serves it (the two outer layers once per
//! listener: the client port and the optional peer port differ in what
//! they let through). Outermost first:
//!
//! 1. [`TraceLayer`]: the request's span (path, client address).
//! 2. [`AuthLayer`]: credentials by role (`UNAUTHENTICATED`,
//!    `PERMISSION_DENIED`), before anything else is spent on a request.
//! 3. [`Router`]: `groupcache.v1.Groupcache` on, everything else (health,
//!    reflection) to tonic's router, never shed.
//! 4. [`ShedLayer`]: `RESOURCE_EXHAUSTED` past `max_concurrent_requests`
//!    in flight (one budget for the node).
//! 5. [`DeadlineLayer`]: the request's [`Deadline`](crate::middleware::deadline::Deadline),
//!    from `grpc-timeout` capped by `request_timeout`, or the
//!    `request_timeout` itself.
//! 6. [`GroupcacheServer`]: the unary codec or the generated server, then
//!    [`GroupcacheService`].

use cache_core::Registry;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;

use super::gauges::NodeGauges;
use super::options::ServerOptions;
use super::{GroupcacheServer, Router};
use crate::auth::{AuthLayer, AuthPolicy};
use crate::middleware::deadline::DeadlineLayer;
use crate::middleware::shed::ShedLayer;
use crate::middleware::trace::TraceLayer;
use crate::service::GroupcacheService;
use crate::transport::GrpcService;
use crate::{Error, PeerPool};

/// The node's service for `registry` and `pool` under `opts` without the
/// two outer layers (see [`for_listener`]), the reporter of its health
/// service (which starts NOT_SERVING), and its gauges (whose connection
/// count the listeners keep).
pub(crate) fn build(
    registry: Registry,
    pool: PeerPool,
    opts: &ServerOptions,
) -> Result<(impl GrpcService, HealthReporter, NodeGauges), Error> {
    let shed = ShedLayer::new(opts.max_concurrent_requests).counting(&opts.request_stats);
    let gauges = NodeGauges::new(&opts.version, shed.clone());
    let service = GroupcacheService::new(registry, pool, opts.max_value_bytes)
        .with_max_batch_keys(opts.max_batch_keys)
        .with_gauges(gauges.clone())
        .with_access_log(opts.access_log)
        .with_mutation_timeout(opts.mutation_timeout)
        .with_mutations_off(opts.mutations_off.clone());
    let groupcache = ServiceBuilder::new()
        .layer(shed)
        .layer(DeadlineLayer::new(Some(opts.request_timeout)))
        .service(GroupcacheServer::new(service).unary_codec(opts.unary_codec));
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut others = Routes::new(health_service);
    if opts.reflection {
        let builder = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        // Each builder registers its own reflection descriptor; add the
        // other version's so both list every service this server has.
        others = others
            .add_service(
                builder()
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                    )
                    .build_v1()?,
            )
            .add_service(
                builder()
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    )
                    .build_v1alpha()?,
            );
    }
    Ok((Router::new(groupcache, others.prepare()), health, gauges))
}

/// What one listener serves: `inner` (from [`build`], shared by every
/// listener of the node, so they share one shedding budget) under its own
/// span and credential checks.
pub(crate) fn for_listener<S: GrpcService>(inner: S, auth: AuthPolicy) -> impl GrpcService {
    ServiceBuilder::new()
        .layer(TraceLayer)
        .layer(AuthLayer::new(auth))
        .service(inner)
}

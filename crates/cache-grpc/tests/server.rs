//! The server's own contract: argument validation, Stats, health,
//! reflection, graceful drain and load shedding.

mod common;

use cache_core::StatsSnapshot;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{FetchRequest, GetRequest, StatsRequest};
use common::*;
use futures::StreamExt;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn channel(url: String) -> Channel {
    Endpoint::from_shared(url).unwrap().connect_lazy()
}

/// Unknown groups and empty or oversized keys are INVALID_ARGUMENT, on Get,
/// Fetch and Stats alike, and never reach the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_invalid_argument() {
    let (cluster, recorder) = cluster(1).await;
    bounded(async {
        let mut client = cluster.client(0);
        let req = |group: &str, key: &str| GetRequest {
            group: group.into(),
            key: key.into(),
        };
        let long_key = "k".repeat(1025);
        for (group, key) in [("nope", "k"), (GROUP, ""), (GROUP, long_key.as_str())] {
            let err = client.get(req(group, key)).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{group}/{key}: {err:?}");
            let err = client
                .fetch(FetchRequest {
                    group: group.into(),
                    key: key.into(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{group}/{key}: {err:?}");
        }
        let err = client
            .stats(StatsRequest {
                group: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("nope"), "{err:?}");
        // A key at the limit is fine.
        let ok = "k".repeat(1024);
        assert_eq!(
            client
                .get(req(GROUP, &ok))
                .await
                .unwrap()
                .into_inner()
                .value,
            value_of(&ok)
        );
        assert_eq!(recorder.loads().len(), 1);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Stats names the node and its peers and reports every core counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_reports_node_peers_and_every_counter() {
    let (cluster, _recorder) = cluster(3).await;
    bounded(async {
        let mut client = cluster.client(0);
        for i in 0..5 {
            get(&mut client, &format!("s{i}"), None).await.unwrap();
        }
        let stats = client
            .stats(StatsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.node, cluster.addr(0).to_string());
        let mut peers: Vec<String> = cluster.addrs().iter().map(|a| a.to_string()).collect();
        peers.sort();
        assert_eq!(stats.peers, peers);
        assert_eq!(stats.groups.len(), 1);
        let group = &stats.groups[0];
        assert_eq!(group.name, GROUP);
        assert_eq!(group.cache_bytes, 64 << 20);
        for (name, _) in StatsSnapshot::default().counters() {
            assert!(group.counters.contains_key(name), "missing {name}");
        }
        assert_eq!(group.counters["gets"], 5);
        let snap = cluster.group(0, GROUP).unwrap().stats();
        assert_eq!(group.main_cache.unwrap().items, snap.main_cache.items);
        assert_eq!(group.hot_cache.unwrap().items, snap.hot_cache.items);
        // What the node runs and how it is doing: this client's connection
        // (and node 0's to its peers, which are the other nodes' clients)
        // and the Stats call itself in flight.
        let info = stats.info.expect("node info");
        assert!(info.version.starts_with("cache-grpc "), "{}", info.version);
        assert!(info.connections >= 1, "{info:?}");
        assert_eq!(info.requests_in_flight, 1, "the Stats call itself");
        assert!(info.rss_bytes > 0);
        let later = client
            .stats(StatsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .info
            .unwrap();
        assert!(later.uptime_ms >= info.uptime_ms);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Health says SERVING while the node runs and NOT_SERVING as soon as
/// shutdown begins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_serving_then_not_serving_on_shutdown() {
    let (mut cluster, _recorder) = cluster(1).await;
    bounded(async {
        let mut health = HealthClient::new(channel(cluster.url(0)));
        for service in ["", "groupcache.v1.Groupcache"] {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
        }
        let mut watch = health
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);
        let (stopped, seen) = tokio::join!(cluster.stop(0), async move {
            let next = watch.message().await.unwrap().unwrap();
            drop(watch); // lets the drain finish
            next.status
        });
        stopped.unwrap();
        assert_eq!(seen, ServingStatus::NotServing as i32);
    })
    .await;
}

/// With a shutdown grace, a node that is stopping tells NEW connections
/// NOT_SERVING (so a load balancer can drain it) while it still serves
/// them; then it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_grace_keeps_serving_while_not_serving() {
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .shutdown_grace(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let (mut cluster, _recorder) = cluster_with(1, opts).await;
    let url = cluster.url(0);
    bounded(async {
        let (stopped, ()) = tokio::join!(cluster.stop(0), async {
            // Poll with fresh connections until health turns NOT_SERVING
            // (the stop begins concurrently); bounded by the grace.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                let status = HealthClient::new(channel(url.clone()))
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .expect("still accepting during the grace")
                    .into_inner()
                    .status;
                if status == ServingStatus::NotServing as i32 {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "never NOT_SERVING");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let mut client = GroupcacheClient::new(channel(url.clone()));
            assert_eq!(
                get(&mut client, "during-grace", None).await.unwrap(),
                value_of("during-grace")
            );
        });
        stopped.unwrap();
    })
    .await;
}

/// `list_services_v1` and `list_services_v1alpha`: the same ListServices
/// call through each reflection version's generated client (distinct types,
/// hence a macro).
macro_rules! list_services {
    ($name:ident, $version:ident) => {
        async fn $name(url: String) -> Result<Vec<String>, tonic::Status> {
            use tonic_reflection::pb::$version::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let mut client = ServerReflectionClient::new(channel(url));
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = client
                .server_reflection_info(futures::stream::iter([req]))
                .await?
                .into_inner();
            match stream.next().await.unwrap()?.message_response {
                Some(MessageResponse::ListServicesResponse(list)) => {
                    Ok(list.service.into_iter().map(|s| s.name).collect())
                }
                other => panic!("unexpected reflection answer {other:?}"),
            }
        }
    };
}

list_services!(list_services_v1, v1);
list_services!(list_services_v1alpha, v1alpha);

/// Reflection v1 and v1alpha both list the groupcache and health services;
/// with reflection off, both are UNIMPLEMENTED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_services_v1_and_v1alpha() {
    let (cluster, _recorder) = cluster(1).await;
    bounded(async {
        for services in [
            list_services_v1(cluster.url(0)).await.unwrap(),
            list_services_v1alpha(cluster.url(0)).await.unwrap(),
        ] {
            assert!(
                services.contains(&"groupcache.v1.Groupcache".to_owned()),
                "{services:?}"
            );
            assert!(
                services.contains(&"grpc.health.v1.Health".to_owned()),
                "{services:?}"
            );
        }
    })
    .await;
    cluster.shutdown().await.unwrap();

    let mut opts = patient();
    opts.server = opts.server.to_builder().reflection(false).build().unwrap();
    let (cluster, _recorder) = cluster_with(1, opts).await;
    bounded(async {
        let err = list_services_v1(cluster.url(0)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
        let err = list_services_v1alpha(cluster.url(0)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A graceful stop lets an in-flight slow request finish with its value,
/// then refuses new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests() {
    let (mut cluster, recorder) = cluster(1).await;
    bounded(async {
        let mut client = cluster.client(0);
        let in_flight = tokio::spawn(async move { get(&mut client, "slow0-drain", None).await });
        recorder.wait_for(1).await;
        let stopping = tokio::time::Instant::now();
        cluster.stop(0).await.unwrap();
        // The load had just started and takes SLOW: stop waited for it.
        let waited = stopping.elapsed();
        assert!(waited >= SLOW / 2, "stop returned after {waited:?}");
        assert_eq!(in_flight.await.unwrap().unwrap(), value_of("slow0-drain"));
        let err = get(&mut cluster.client(0), "k", None).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    })
    .await;
}

/// Beyond `max_concurrent_requests` in flight, a request is answered
/// RESOURCE_EXHAUSTED at once; capacity returns when requests finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_shedding_gives_resource_exhausted() {
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .max_concurrent_requests(2)
        .build()
        .unwrap();
    let (cluster, recorder) = cluster_with(1, opts).await;
    bounded(async {
        let slow: Vec<_> = ["slow0-a", "slow0-b"]
            .into_iter()
            .map(|key| {
                let mut client = cluster.client(0);
                tokio::spawn(async move { get(&mut client, key, None).await })
            })
            .collect();
        recorder.wait_for(2).await;
        let err = get(&mut cluster.client(0), "k", None).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        for task in slow {
            task.await.unwrap().unwrap();
        }
        assert_eq!(
            get(&mut cluster.client(0), "k", None).await.unwrap(),
            value_of("k")
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}

//! `GetMany` over real nodes on loopback: one `FetchMany` per live owner,
//! every key answered (a dead owner's by fallback), per-key statuses, and
//! the batch limit.

mod common;

use cache_grpc::pb::{GetManyRequest, KeyResult};
use common::*;
use tonic::Code;

/// `n` keys with `prefix` owned by node `owner`.
fn keys_owned_by(
    cluster: &cache_grpc::LocalCluster,
    owner: usize,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| cluster.owner_index(k) == owner)
        .take(n)
        .collect()
}

/// `GetMany` of `keys` through node `node`.
async fn get_many(
    cluster: &cache_grpc::LocalCluster,
    node: usize,
    keys: &[String],
) -> Result<Vec<KeyResult>, tonic::Status> {
    let request = GetManyRequest {
        group: GROUP.into(),
        keys: keys.to_vec(),
    };
    let response = cluster.client(node).get_many(request).await?;
    Ok(response.into_inner().results)
}

/// Three nodes, the third killed: a batch through the first holds keys of
/// all three. Each key is answered (the dead owner's by the first node's
/// loader, as fallbacks), with its own status: values, NOT_FOUND, the
/// source's failure. The live peer is sent one `FetchMany` for all its
/// keys; a second batch is answered from the caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_is_answered_with_one_node_dead() {
    let (mut cluster, recorder) = cluster(3).await;
    bounded(async {
        cluster.kill(2);
        let mine = keys_owned_by(&cluster, 0, "k", 3);
        let live = keys_owned_by(&cluster, 1, "k", 4);
        let dead = keys_owned_by(&cluster, 2, "k", 4);
        let missing = keys_owned_by(&cluster, 1, "missing-", 1);
        let failing = keys_owned_by(&cluster, 1, "fail-", 1);
        let mut keys: Vec<String> = Vec::new();
        for i in 0..4 {
            keys.extend(mine.get(i).cloned());
            keys.push(live[i].clone());
            keys.push(dead[i].clone());
        }
        keys.extend(missing.iter().cloned());
        keys.extend(failing.iter().cloned());

        let results = get_many(&cluster, 0, &keys).await.unwrap();
        assert_eq!(results.len(), keys.len());
        for (key, result) in keys.iter().zip(&results) {
            assert_eq!(&result.key, key);
            if key.starts_with("missing-") {
                assert_eq!(result.code, Code::NotFound as u32, "{result:?}");
                assert_eq!(result.message, "key not found");
            } else if key.starts_with("fail-") {
                assert_eq!(result.code, Code::Unavailable as u32, "{result:?}");
                assert_eq!(result.message, "the source failed to load the key");
                assert!(!result.message.contains("secret"));
            } else {
                assert_eq!(result.code, 0, "{result:?}");
                assert_eq!(result.value, value_of(key), "{key}");
            }
        }
        // The dead owner's keys were loaded by node 0, as fallbacks; the
        // live owner loaded its own, and was asked once.
        assert_eq!(counter(&cluster, 0, "fallback_loads"), dead.len() as u64);
        for key in &dead {
            let loads = recorder.loads_of(key);
            assert_eq!(loads.len(), 1, "{key}: {loads:?}");
            assert_eq!(loads[0].node, 0);
        }
        assert_eq!(recorder.count_on(1), live.len() + 2);
        assert_eq!(
            counter(&cluster, 1, "server_requests"),
            live.len() as u64 + 2
        );
        let to_live = cluster
            .pool(0)
            .client(&cluster.addr(1).to_string())
            .unwrap();
        assert_eq!(to_live.fetch_latency().count(), 1);
        assert_eq!(counter(&cluster, 0, "batch_gets"), 1);

        // Again: the values are in node 0's caches (main, hot), the owner's
        // errors are asked again (no negative caching), no fallback reloads.
        let loads_before = recorder.loads().len();
        let again = get_many(&cluster, 0, &keys).await.unwrap();
        let codes: Vec<u32> = again.iter().map(|r| r.code).collect();
        let first: Vec<u32> = results.iter().map(|r| r.code).collect();
        assert_eq!(codes, first);
        assert_eq!(recorder.loads().len(), loads_before + 2);
        assert_eq!(to_live.fetch_latency().count(), 2);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// The batch limit: more keys than it is INVALID_ARGUMENT naming the limit
/// (nothing loaded); an empty batch is OK with no results; an unknown
/// group and an invalid key are refused like a `Get`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_requests() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        let too_many: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
        let err = get_many(&cluster, 0, &too_many).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("1001 keys"), "{err:?}");
        assert!(err.message().contains("limit of 1000 keys"), "{err:?}");
        assert!(recorder.loads().is_empty());

        assert_eq!(get_many(&cluster, 0, &[]).await.unwrap(), []);

        let at_limit: Vec<String> = too_many[..1000].to_vec();
        let results = get_many(&cluster, 1, &at_limit).await.unwrap();
        assert!(results.iter().all(|r| r.code == 0), "a key failed");
        assert_eq!(recorder.loads().len(), 1000);

        let request = GetManyRequest {
            group: "nope".into(),
            keys: vec!["k".into()],
        };
        let err = cluster.client(0).get_many(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);

        let results = get_many(&cluster, 0, &[String::new(), "k1".into()])
            .await
            .unwrap();
        assert_eq!(results[0].code, Code::InvalidArgument as u32);
        assert_eq!(results[0].message, "invalid key: the key is empty");
        assert_eq!(
            (results[1].code, results[1].value.clone()),
            (0, value_of("k1"))
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Values that together pass the response limit: the keys whose values no
/// longer fit are RESOURCE_EXHAUSTED each, the others answered, and each
/// refused key is still served alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_past_the_response_limit_are_refused_per_key() {
    let (cluster, _recorder) = cluster(1).await;
    bounded(async {
        // 5 MiB each, under the 8 MiB value limit; two do not fit in one
        // response of 8 MiB + 64 KiB.
        let keys: Vec<String> = vec!["big-1".into(), "big-2".into(), "small".into()];
        let mut client = cluster.client(0);
        let response = client
            .get_many(GetManyRequest {
                group: GROUP.into(),
                keys: keys.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .results;
        let codes: Vec<u32> = response.iter().map(|r| r.code).collect();
        assert_eq!(codes, [0, Code::ResourceExhausted as u32, 0]);
        assert!(
            response[1].message.contains("response size limit"),
            "{:?}",
            response[1].message
        );
        assert_eq!(response[0].value.len(), BIG);
        assert_eq!(response[2].value, value_of("small"));
        assert_eq!(get(&mut client, "big-2", None).await.unwrap().len(), BIG);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

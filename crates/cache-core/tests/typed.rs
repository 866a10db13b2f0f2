//! Typed values (`cache_core::typed`): every codec round-trips through a
//! group, values are encoded once per load and decoded per get, a value
//! that does not decode is `Error::Decode` for that reader only (the cached
//! bytes stay for the others, nothing is cached for the error), an
//! encode failure fails the load, and a typed reader on one node decodes
//! what the key's owner encoded.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use cache_core::typed::{
    BytesCodec, Codec, JsonCodec, PostcardCodec, ProstCodec, TypedGroup, TypedLoaded, Utf8Codec,
    typed_getter_fn,
};
use cache_core::{Error, Group, GroupBuilder, LoadContext, Loaded, getter_fn};
use common::{Behaviour, FakePeer, PrefixPicker};

const MB: u64 = 1 << 20;

/// A serde type with the shapes codecs differ on: strings, integers of
/// both signs, an option, a sequence, a map, an enum.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Profile {
    id: u64,
    name: String,
    balance: i64,
    email: Option<String>,
    tags: Vec<String>,
    limits: BTreeMap<String, u32>,
    tier: Tier,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Tier {
    Free,
    Paid { seats: u16 },
}

/// The same type with one field fewer: an older version of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct ShortProfile {
    id: u64,
    name: String,
}

/// A protobuf message, derived by hand.
#[derive(Clone, PartialEq, prost::Message)]
struct Reading {
    #[prost(string, tag = "1")]
    sensor: String,
    #[prost(double, tag = "2")]
    celsius: f64,
    #[prost(sint64, repeated, tag = "3")]
    history: Vec<i64>,
    #[prost(bytes = "bytes", tag = "4")]
    raw: Bytes,
}

/// A profile made from the key, different for every key.
fn profile(key: &str) -> Profile {
    Profile {
        id: key.len() as u64,
        name: format!("name of {key}"),
        balance: -(key.len() as i64) * 1_000,
        email: key.contains('@').then(|| key.to_owned()),
        tags: key.split('-').map(str::to_owned).collect(),
        limits: BTreeMap::from([("reads".to_owned(), 10), ("writes".to_owned(), 2)]),
        tier: if key.starts_with("paid") {
            Tier::Paid { seats: 5 }
        } else {
            Tier::Free
        },
    }
}

fn reading(key: &str) -> Reading {
    Reading {
        sensor: key.to_owned(),
        celsius: -12.5,
        history: vec![-3, 0, 7, i64::MAX, i64::MIN],
        raw: Bytes::from_static(b"\x00\xff raw"),
    }
}

/// A group whose typed loader counts its calls and returns `make(key)`.
fn typed_group<V, C>(
    codec: C,
    calls: &Arc<AtomicUsize>,
    make: fn(&str) -> V,
) -> (Group, TypedGroup<V, C>)
where
    V: Send + 'static,
    C: Codec<V> + Clone,
{
    let calls = Arc::clone(calls);
    let group = GroupBuilder::new(
        "typed",
        MB,
        typed_getter_fn(codec.clone(), move |key: String, _ctx| {
            calls.fetch_add(1, Ordering::SeqCst);
            let value = make(&key);
            async move { Ok(TypedLoaded::new(value)) }
        }),
    )
    .build()
    .unwrap();
    (group.clone(), TypedGroup::with_codec(group, codec))
}

/// Loads `key` twice through a typed group of `codec` and checks that both
/// gets answer `make(key)`, that the second was a hit, and that the cache
/// holds exactly the codec's encoding of the value.
async fn round_trip<V, C>(codec: C, make: fn(&str) -> V, key: &str)
where
    V: PartialEq + std::fmt::Debug + Send + 'static,
    C: Codec<V> + Clone,
{
    let calls = Arc::new(AtomicUsize::new(0));
    let (group, typed) = typed_group(codec.clone(), &calls, make);
    assert_eq!(typed.get(key).await.unwrap(), make(key));
    assert_eq!(typed.get(key).await.unwrap(), make(key));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for two gets");
    let stats = group.stats();
    assert_eq!((stats.gets, stats.cache_hits), (2, 1));
    let cached = group.get(key).await.unwrap();
    assert_eq!(cached, codec.encode(&make(key)).unwrap());
    assert_eq!(codec.decode(cached).unwrap(), make(key));
}

/// Every codec gives back the value its loader returned, from the load and
/// from the cache, and caches the codec's own encoding.
#[tokio::test]
async fn every_codec_round_trips() {
    round_trip(Utf8Codec, |k| format!("grüße, {k} ✓"), "ü-key").await;
    round_trip(BytesCodec, |k| Bytes::from(k.repeat(3)), "raw").await;
    round_trip(BytesCodec, |k| k.as_bytes().to_vec(), "vec").await;
    round_trip(JsonCodec, profile, "paid-ada@example.com").await;
    round_trip(JsonCodec, profile, "free").await;
    round_trip(PostcardCodec, profile, "paid-ada@example.com").await;
    round_trip(PostcardCodec, profile, "free").await;
    round_trip(ProstCodec, reading, "sensor-1").await;
    // The default codec of `String` is UTF-8.
    let calls = Arc::new(AtomicUsize::new(0));
    let (group, _) = typed_group(Utf8Codec, &calls, |k| k.to_uppercase());
    let default: TypedGroup<String> = TypedGroup::new(group);
    assert_eq!(default.get("abc").await.unwrap(), "ABC");
}

/// postcard's bytes are fewer than JSON's for the same value (what the
/// compact format is for).
#[tokio::test]
async fn postcard_is_smaller_than_json() {
    let value = profile("paid-ada@example.com");
    let json = JsonCodec.encode(&value).unwrap();
    let compact = PostcardCodec.encode(&value).unwrap();
    assert!(
        compact.len() < json.len(),
        "postcard {} bytes, JSON {} bytes",
        compact.len(),
        json.len()
    );
}

/// `get_with_ttl` answers the typed value and the TTL left, which the
/// loader set through `TypedLoaded::with_ttl`; `get_with` honours the
/// caller's deadline.
#[tokio::test(start_paused = true)]
async fn ttl_and_deadline() {
    let group = GroupBuilder::new(
        "ttl",
        MB,
        typed_getter_fn(JsonCodec, |key: String, _ctx| async move {
            if key == "slow" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok(TypedLoaded::new(profile(&key)).with_ttl(Duration::from_secs(60)))
        }),
    )
    .build()
    .unwrap();
    let typed: TypedGroup<Profile, JsonCodec> = TypedGroup::new(group);
    let first = typed.get_with_ttl("k", LoadContext::new()).await.unwrap();
    assert_eq!(
        first,
        TypedLoaded::new(profile("k")).with_ttl(Duration::from_secs(60))
    );
    tokio::time::advance(Duration::from_secs(20)).await;
    let cached = typed.get_with_ttl("k", LoadContext::new()).await.unwrap();
    assert_eq!(cached.value, profile("k"));
    assert_eq!(cached.ttl, Some(Duration::from_secs(40)));
    let late = typed
        .get_with("slow", LoadContext::with_timeout(Duration::from_millis(10)))
        .await;
    assert_eq!(late, Err(Error::DeadlineExceeded));
}

/// A reader whose codec cannot decode the cached bytes gets `Error::Decode`
/// (no panic), every time it asks, while the bytes stay cached for the
/// reader with the right codec: no reload, no negative-cache entry, no
/// removal. The group counts the failed reads as served gets.
#[tokio::test]
async fn decode_error_is_the_readers_only() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let group = GroupBuilder::new(
        "users",
        MB,
        typed_getter_fn(JsonCodec, move |key: String, _ctx| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(TypedLoaded::new(profile(&key))) }
        }),
    )
    .negative_ttl(Some(Duration::from_secs(60)))
    .build()
    .unwrap();
    let json: TypedGroup<Profile, JsonCodec> = TypedGroup::new(group.clone());
    let postcard: TypedGroup<Profile, PostcardCodec> = TypedGroup::new(group.clone());
    let prost: TypedGroup<Reading, ProstCodec> = TypedGroup::new(group.clone());
    let older: TypedGroup<ShortProfile, JsonCodec> = TypedGroup::new(group.clone());

    // The wrong reader first: it triggers the load, and fails to decode.
    for _ in 0..3 {
        let err = postcard.get("paid-ada").await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Decode {
                    codec: "postcard",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let err = prost.get("paid-ada").await.unwrap_err();
    let Error::Decode {
        codec, type_name, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    let reading = std::any::type_name::<Reading>();
    assert_eq!((*codec, *type_name), ("protobuf", reading));
    let expected = format!("value does not decode as protobuf into {reading}: ");
    assert!(err.to_string().starts_with(&expected), "{err}");
    assert!(!err.is_peer_fallback());

    // The right reader: the same bytes, from the cache.
    assert_eq!(json.get("paid-ada").await.unwrap(), profile("paid-ada"));
    // JSON ignores the fields an older type lacks.
    let short = older.get("paid-ada").await.unwrap();
    assert_eq!(short.name, "name of paid-ada");

    assert_eq!(calls.load(Ordering::SeqCst), 1, "loaded once, never again");
    let stats = group.stats();
    assert_eq!(stats.gets, 6);
    assert_eq!(stats.cache_hits, 5);
    assert_eq!(stats.get_errors, 0, "the group served every get");
    assert_eq!(
        stats.main_cache.items, 1,
        "the value, and no negative entry"
    );
}

/// The UTF-8 codec rejects bytes that are not UTF-8 with `Error::Decode`
/// (no lossy replacement); the raw bytes are still served and cached.
#[tokio::test]
async fn utf8_rejects_invalid_bytes() {
    let group = GroupBuilder::new(
        "blobs",
        MB,
        getter_fn(|key: String, _ctx| async move {
            Ok(Loaded::new(match key.as_str() {
                "latin1" => Bytes::from_static(b"gr\xfc\xdfe"),
                "cut" => Bytes::from_static(&"✓".as_bytes()[..2]),
                _ => Bytes::from(key),
            }))
        }),
    )
    .build()
    .unwrap();
    let text: TypedGroup<String> = TypedGroup::new(group.clone());
    assert_eq!(text.get("fine").await.unwrap(), "fine");
    for key in ["latin1", "cut"] {
        let err = text.get(key).await.unwrap_err();
        assert!(
            matches!(err, Error::Decode { codec: "UTF-8", .. }),
            "{key}: {err:?}"
        );
        assert!(err.to_string().contains(" utf-8 "), "{key}: {err}");
    }
    assert_eq!(group.get("latin1").await.unwrap(), &b"gr\xfc\xdfe"[..]);
    let raw: TypedGroup<Vec<u8>> = TypedGroup::new(group.clone());
    assert_eq!(raw.get("cut").await.unwrap(), "✓".as_bytes()[..2].to_vec());
    assert_eq!(group.stats().local_loads, 3);
}

/// postcard refuses bytes left over after the value (a writer whose type
/// had more fields) and bytes that end early (one with fewer), rather than
/// answering a truncated value.
#[tokio::test]
async fn postcard_refuses_a_different_shape() {
    let full = PostcardCodec.encode(&profile("paid-ada")).unwrap();
    let longer: Result<ShortProfile, _> = PostcardCodec.decode(full.clone());
    let err = longer.unwrap_err();
    assert!(
        err.to_string().contains("bytes left over after the value"),
        "{err}"
    );
    let short = PostcardCodec
        .encode(&ShortProfile {
            id: 1,
            name: "x".into(),
        })
        .unwrap();
    let shorter: Result<Profile, _> = PostcardCodec.decode(short);
    let err = shorter.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                codec: "postcard",
                ..
            }
        ),
        "{err:?}"
    );
    // Every prefix of a valid encoding fails to decode, none panics.
    for len in 0..full.len() {
        let cut: Result<Profile, _> = PostcardCodec.decode(full.slice(..len));
        assert!(cut.is_err(), "a prefix of {len} bytes decoded");
    }
}

/// A type whose `Serialize` always fails.
#[derive(Debug, serde::Deserialize)]
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

/// A value its codec cannot encode fails the load as `SourceFailed`
/// (saying which type and codec); nothing is cached, so the next get calls
/// the loader again.
#[tokio::test]
async fn encode_failure_fails_the_load() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let group = GroupBuilder::new(
        "broken",
        MB,
        typed_getter_fn(JsonCodec, move |_key: String, _ctx| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok(TypedLoaded::new(Unencodable)) }
        }),
    )
    .build()
    .unwrap();
    let typed: TypedGroup<Unencodable, JsonCodec> = TypedGroup::new(group.clone());
    for round in 1..=2 {
        let err = typed.get("k").await.unwrap_err();
        let Error::SourceFailed(detail) = &err else {
            panic!("{err:?}")
        };
        let expected = format!(
            "value of type {} does not encode as JSON: this value refuses to be encoded",
            std::any::type_name::<Unencodable>()
        );
        assert_eq!(&**detail, expected);
        assert_eq!(calls.load(Ordering::SeqCst), round);
    }
    assert_eq!(group.stats().main_cache.items, 0);
    // A map JSON cannot key is refused the same way.
    let err = JsonCodec
        .encode(&BTreeMap::from([((1u8, 2u8), 3u8)]))
        .unwrap_err();
    assert!(matches!(err, Error::SourceFailed(_)), "{err:?}");
}

/// A loader's errors reach typed readers unchanged, and negative caching
/// works as for bytes.
#[tokio::test]
async fn loader_errors_pass_through() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let group = GroupBuilder::new(
        "sparse",
        MB,
        typed_getter_fn(ProstCodec, move |key: String, _ctx| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match key.as_str() {
                    "missing" => Err(Error::NotFound),
                    "down" => Err(Error::source_failed("database down")),
                    _ => Ok(TypedLoaded::new(reading(&key))),
                }
            }
        }),
    )
    .negative_ttl(Some(Duration::from_secs(60)))
    .build()
    .unwrap();
    let typed: TypedGroup<Reading, ProstCodec> = TypedGroup::new(group);
    assert_eq!(typed.get("missing").await, Err(Error::NotFound));
    assert_eq!(typed.get("missing").await, Err(Error::NotFound));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the NotFound was remembered"
    );
    assert_eq!(
        typed.get("down").await,
        Err(Error::source_failed("database down"))
    );
    assert_eq!(
        typed.get("").await,
        Err(Error::InvalidKey("the key is empty"))
    );
}

/// A codec that counts its calls, around JSON.
#[derive(Debug, Default)]
struct Counting {
    encodes: AtomicUsize,
    decodes: AtomicUsize,
}

impl Codec<Profile> for Arc<Counting> {
    fn encode(&self, value: &Profile) -> Result<Bytes, Error> {
        self.encodes.fetch_add(1, Ordering::SeqCst);
        JsonCodec.encode(value)
    }

    fn decode(&self, bytes: Bytes) -> Result<Profile, Error> {
        self.decodes.fetch_add(1, Ordering::SeqCst);
        JsonCodec.decode(bytes)
    }
}

/// Concurrent typed gets of one missing key share one load, so the value is
/// encoded once; each get decodes it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_once_per_load_decoded_once_per_get() {
    let codec = Arc::new(Counting::default());
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = Arc::clone(&release);
    let group = GroupBuilder::new(
        "shared",
        MB,
        typed_getter_fn(Arc::clone(&codec), move |key: String, _ctx| {
            let gate = Arc::clone(&gate);
            async move {
                gate.notified().await;
                Ok(TypedLoaded::new(profile(&key)))
            }
        }),
    )
    .build()
    .unwrap();
    let typed: TypedGroup<Profile, Arc<Counting>> =
        TypedGroup::with_codec(group.clone(), Arc::clone(&codec));
    let gets: Vec<_> = (0..8)
        .map(|_| {
            let typed = typed.clone();
            tokio::spawn(async move { typed.get("hot").await })
        })
        .collect();
    // Every get has joined the flight before the load may finish.
    tokio::time::timeout(Duration::from_secs(10), async {
        while group.stats().gets < 8 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("8 gets started");
    release.notify_one();
    for get in gets {
        assert_eq!(get.await.unwrap().unwrap(), profile("hot"));
    }
    assert_eq!(codec.encodes.load(Ordering::SeqCst), 1);
    assert_eq!(codec.decodes.load(Ordering::SeqCst), 8);
    assert_eq!(group.stats().local_loads, 1);
}

/// Across two nodes: a typed reader on node `a` decodes the bytes that the
/// key's owner `b` encoded; `a`'s loader never runs, and a wrong reader on
/// `a` leaves `b`'s cache and `a`'s copy alone.
#[tokio::test]
async fn reader_decodes_what_the_owner_encoded() {
    let to_b = FakePeer::new("b", Behaviour::Mesh(OnceLock::new()));
    let (a_calls, b_calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let node = |calls: &Arc<AtomicUsize>| {
        let calls = Arc::clone(calls);
        typed_getter_fn(PostcardCodec, move |key: String, _ctx| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(TypedLoaded::new(profile(&key))) }
        })
    };
    let a = GroupBuilder::new("g", MB, node(&a_calls))
        .peers(PrefixPicker::new("a", &[&to_b]))
        .build()
        .unwrap();
    let b = GroupBuilder::new("g", MB, node(&b_calls))
        .peers(PrefixPicker::new("b", &[]))
        .build()
        .unwrap();
    if let Behaviour::Mesh(cell) = &to_b.behaviour {
        cell.set(b.clone()).unwrap();
    }
    let on_a: TypedGroup<Profile, PostcardCodec> = TypedGroup::new(a.clone());
    let wrong_on_a: TypedGroup<Profile, JsonCodec> = TypedGroup::new(a.clone());

    assert_eq!(on_a.get("b:paid-1").await.unwrap(), profile("b:paid-1"));
    assert!(matches!(
        wrong_on_a.get("b:paid-1").await,
        Err(Error::Decode { codec: "JSON", .. })
    ));
    assert_eq!(on_a.get("b:paid-1").await.unwrap(), profile("b:paid-1"));
    assert_eq!(
        (
            a_calls.load(Ordering::SeqCst),
            b_calls.load(Ordering::SeqCst)
        ),
        (0, 1)
    );
    assert_eq!(to_b.fetches(), 1, "a's hot copy served the later gets");
}

/// A typed `set` stores the codec's encoding: a typed get answers the set
/// value with no load, and the raw group holds exactly its bytes.
#[tokio::test]
async fn a_typed_set_is_read_back_without_a_load() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (group, typed) = typed_group(JsonCodec, &calls, profile);
    let value = profile("paid-set@example.com");
    typed.set("written", &value, None).unwrap();
    assert_eq!(typed.get("written").await.unwrap(), value);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        group.get("written").await.unwrap(),
        JsonCodec.encode(&value).unwrap()
    );
}

//! Typed values: groups whose loaders return Rust types and whose readers
//! get them back, encoded once per load and cached as bytes.
//!
//! - `users`: a serde struct as JSON (`JsonCodec`), with a TTL;
//! - `sessions`: the same kind of struct in postcard's compact binary
//!   format (`PostcardCodec`), to compare sizes;
//! - `points`: a protobuf message (`ProstCodec`), its `prost::Message`
//!   derived by hand, with no `.proto` file or build script;
//! - a reader with the wrong codec gets `Error::Decode`, and the cached
//!   value is still there for the right one.
//!
//! Run it with:
//!
//! ```text
//! cargo run -p cache-core --example typed_values
//! ```
//!
//! `cargo test -p cache-core --example typed_values` runs it too, and its
//! asserts.

use std::time::Duration;

use cache_core::typed::{
    JsonCodec, PostcardCodec, ProstCodec, TypedGroup, TypedLoaded, typed_getter_fn,
};
use cache_core::{Error, GroupBuilder, LoadContext};

/// A row of the "users" table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
    roles: Vec<String>,
}

/// A protobuf message without a `.proto` file: the derive reads the tags.
#[derive(Clone, PartialEq, prost::Message)]
struct Point {
    #[prost(sint64, tag = "1")]
    x: i64,
    #[prost(sint64, tag = "2")]
    y: i64,
    #[prost(string, tag = "3")]
    label: String,
}

/// The "database": a user for ids 1 to 99, none for the others.
async fn load_user(id: &str) -> Result<User, Error> {
    let id: u64 = id.parse().map_err(|_| Error::NotFound)?;
    if !(1..100).contains(&id) {
        return Err(Error::NotFound);
    }
    Ok(User {
        id,
        name: format!("user {id}"),
        roles: vec!["reader".into(), "writer".into()],
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // A serde struct as JSON. The loader returns a `User`; the codec
    // encodes it once, and the group caches the JSON bytes.
    let users = GroupBuilder::new(
        "users",
        64 << 20,
        typed_getter_fn(JsonCodec, |key: String, _ctx: LoadContext| async move {
            Ok(TypedLoaded::new(load_user(&key).await?).with_ttl(Duration::from_secs(300)))
        }),
    )
    .build()?;
    let typed_users: TypedGroup<User, JsonCodec> = TypedGroup::new(users.clone());

    let user = typed_users.get("42").await?;
    assert_eq!(user.name, "user 42");
    assert_eq!(typed_users.get("42").await?, user); // a cache hit, decoded
    assert_eq!(typed_users.get("404").await, Err(Error::NotFound));
    let json = users.get("42").await?; // the bytes themselves
    println!(
        "users/42 is {} bytes of JSON: {}",
        json.len(),
        String::from_utf8_lossy(&json)
    );

    // The same struct in postcard's format: no field names, varints.
    let sessions = GroupBuilder::new(
        "sessions",
        64 << 20,
        typed_getter_fn(PostcardCodec, |key: String, _ctx| async move {
            Ok(TypedLoaded::new(load_user(&key).await?))
        }),
    )
    .build()?;
    let typed_sessions: TypedGroup<User, PostcardCodec> = TypedGroup::new(sessions.clone());
    assert_eq!(typed_sessions.get("42").await?, user);
    let compact = sessions.get("42").await?;
    println!("sessions/42 is {} bytes of postcard", compact.len());
    assert!(compact.len() < json.len());

    // A protobuf message.
    let points = GroupBuilder::new(
        "points",
        64 << 20,
        typed_getter_fn(ProstCodec, |key: String, _ctx| async move {
            let n: i64 = key.parse().map_err(Error::source_failed)?;
            Ok(TypedLoaded::new(Point {
                x: n,
                y: -n,
                label: format!("p{n}"),
            }))
        }),
    )
    .build()?;
    let typed_points: TypedGroup<Point, ProstCodec> = TypedGroup::new(points.clone());
    let point = typed_points.get("7").await?;
    assert_eq!((point.x, point.y, point.label.as_str()), (7, -7, "p7"));
    println!(
        "points/7 is {} bytes of protobuf: {point:?}",
        points.get("7").await?.len()
    );

    // A reader with the wrong codec: an error for that reader only.
    let wrong: TypedGroup<User, PostcardCodec> = TypedGroup::new(users.clone());
    let err = wrong.get("42").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                codec: "postcard",
                ..
            }
        ),
        "{err}"
    );
    println!("reading users/42 as postcard: {err}");
    assert_eq!(typed_users.get("42").await?, user); // still cached, still JSON
    let stats = users.stats();
    assert_eq!((stats.local_loads, stats.local_load_errs), (1, 1)); // 42 once, 404 once: no reload

    Ok(())
}

#[cfg(test)]
mod tests {
    /// The example runs to the end, its asserts included.
    #[test]
    fn runs() {
        super::main().expect("the example succeeds");
    }
}

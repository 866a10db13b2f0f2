//! The two things a `sql:` source asks its database, written once for
//! every driver: the start check of the query ([`check`]) and a load
//! ([`load`]).
//!
//! The check prepares the statement on a connection of its own and reads
//! what the database says about it: exactly one parameter, at least one
//! column, the value column bytes or text, the TTL column (if named)
//! present and numeric. Asking the database, rather than counting
//! placeholders in the text, gets string literals, comments, casts and
//! dialects right, and catches a missing table or a syntax error at start.
//! It prepares twice: without parameter types (PostgreSQL then infers the
//! count), then with the key's type, text, as the loads bind it (PostgreSQL
//! then checks that a text key fits, as in `id = $1::int`). Drivers that
//! take no parameter types (MySQL, SQLite) simply prepare twice.

use std::time::Duration;

use bytes::Bytes;
use sqlx::{
    Column, ColumnIndex, Connection, Database, Decode, Either, Encode, Executor, IntoArguments,
    Pool, Row, Statement, Type, TypeInfo, ValueRef,
};

use super::outcome::{Problem, Shape};

/// Longest time to live taken from a TTL column: longer ones are cut to
/// this (a clock far in the future would overflow).
pub(super) const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Problem {
        match e {
            sqlx::Error::PoolTimedOut => Problem::PoolTimedOut,
            sqlx::Error::Database(db) => Problem::Sql(match db.code() {
                Some(code) => format!("database error {code}: {}", db.message()),
                None => format!("database error: {}", db.message()),
            }),
            sqlx::Error::Io(io) => Problem::Sql(format!("database connection: {io}")),
            other => Problem::Sql(crate::error::error_chain(&other)),
        }
    }
}

/// Prepares `sql` on `conn` and checks it can serve as a source's query
/// (see the module doc); `placeholder` is named in the messages.
pub(super) async fn check<DB>(
    conn: &mut DB::Connection,
    sql: &str,
    placeholder: &str,
    ttl_column: Option<&str>,
) -> Result<Shape, Problem>
where
    DB: Database + sqlx::database::HasStatementCache,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Type<DB>,
    for<'r> &'r [u8]: Type<DB>,
    i64: Type<DB>,
    i32: Type<DB>,
    f64: Type<DB>,
{
    let shape = {
        let statement = conn.prepare(sql).await?;
        let params = match statement.parameters() {
            Some(Either::Left(types)) => Some(types.len()),
            Some(Either::Right(n)) => Some(n),
            None => None,
        };
        if let Some(n) = params
            && n != 1
        {
            return Err(Problem::Shape(format!(
                "the query has {n} parameters; it needs exactly one, the key ({placeholder})"
            )));
        }
        let columns = statement.columns();
        let Some(first) = columns.first() else {
            return Err(Problem::Shape(
                "the query returns no column: its first column must be the value".into(),
            ));
        };
        let ty = first.type_info();
        if !ty.is_null() && !is_bytes_or_text::<DB>(ty) {
            return Err(Problem::Shape(format!(
                "the value column {:?} is of type {}: select it as text or bytes \
                 (CAST(... AS TEXT), or bytea/BLOB)",
                first.name(),
                ty.name()
            )));
        }
        let ttl_index = match ttl_column {
            None => None,
            Some(name) => {
                let (i, column) = columns
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.name().eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        Problem::Shape(format!(
                            "the query returns no TTL column {name:?} (it returns {})",
                            columns
                                .iter()
                                .map(|c| format!("{:?}", c.name()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                if i == 0 {
                    return Err(Problem::Shape(format!(
                        "the TTL column {name:?} is the first column, the value's: put the value first"
                    )));
                }
                let ty = column.type_info();
                if !ty.is_null() && !is_seconds::<DB>(ty) {
                    return Err(Problem::Shape(format!(
                        "the TTL column {name:?} is of type {}: it must be an integer (or a \
                         floating-point number) of seconds",
                        ty.name()
                    )));
                }
                Some(i)
            }
        };
        Shape { ttl_index }
    };
    // Again, as a load binds the key (as text): a statement prepared
    // without types is cached under the same text, so forget it first.
    conn.clear_cached_statements().await?;
    conn.prepare_with(sql, &[<&str as Type<DB>>::type_info()])
        .await?;
    Ok(shape)
}

/// Runs `sql` with `key` on a connection of `pool` (waiting for one at
/// most the pool's acquire timeout, then running at most `timeout`) and
/// reads the first row: the value (bytes or text; at most
/// `max_value_bytes`) and, if `shape` has one, the TTL.
pub(super) async fn load<DB>(
    pool: &Pool<DB>,
    sql: &str,
    key: &str,
    shape: Shape,
    timeout: Duration,
    max_value_bytes: u64,
) -> Result<(Bytes, Option<Duration>), Problem>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> &'r [u8]: Decode<'r, DB> + Type<DB>,
    for<'r> &'r str: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> i32: Decode<'r, DB> + Type<DB>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut conn = pool.acquire().await?;
    let query = sqlx::query::<DB>(sql).bind(key);
    let row = tokio::time::timeout(timeout, query.fetch_optional(&mut *conn))
        .await
        .map_err(|_| Problem::Timeout)??
        .ok_or(Problem::NoValue)?;
    let value = value_of(&row, max_value_bytes)?;
    let ttl = match shape.ttl_index {
        Some(i) => ttl_of(&row, i)?,
        None => None,
    };
    Ok((value, ttl))
}

/// The first column of `row`, copied out once: bytes or text, NULL as
/// [`Problem::NoValue`].
fn value_of<R>(row: &R, max_value_bytes: u64) -> Result<Bytes, Problem>
where
    R: Row,
    for<'r> &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let raw = row.try_get_raw(0)?;
    if raw.is_null() {
        return Err(Problem::NoValue);
    }
    let ty = raw.type_info().into_owned();
    let bytes: &[u8] = if <&[u8] as Type<R::Database>>::compatible(&ty) {
        row.try_get_unchecked::<&[u8], _>(0)?
    } else if is_text::<R::Database>(&ty) {
        row.try_get_unchecked::<&str, _>(0)?.as_bytes()
    } else {
        return Err(Problem::Shape(format!(
            "the value is of type {}, neither text nor bytes",
            ty.name()
        )));
    };
    if bytes.len() as u64 > max_value_bytes {
        return Err(Problem::Shape(format!(
            "the value of {} bytes is over the maximum value size of {max_value_bytes} bytes",
            bytes.len()
        )));
    }
    Ok(Bytes::copy_from_slice(bytes))
}

/// The time to live in column `i` of `row`: NULL is none; zero or less
/// means "do not keep"; more than [`MAX_TTL`] is cut to it.
fn ttl_of<R>(row: &R, i: usize) -> Result<Option<Duration>, Problem>
where
    R: Row,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(None);
    }
    let ty = raw.type_info().into_owned();
    let seconds = if <i64 as Type<R::Database>>::compatible(&ty) {
        row.try_get_unchecked::<i64, _>(i)? as f64
    } else if <i32 as Type<R::Database>>::compatible(&ty) {
        f64::from(row.try_get_unchecked::<i32, _>(i)?)
    } else if <f64 as Type<R::Database>>::compatible(&ty) {
        row.try_get_unchecked::<f64, _>(i)?
    } else {
        return Err(Problem::Shape(format!(
            "the TTL is of type {}, not a number of seconds",
            ty.name()
        )));
    };
    Ok(Some(ttl_from_seconds(seconds)))
}

/// Seconds to a time to live: NaN, zero or less is zero, more than
/// [`MAX_TTL`] is [`MAX_TTL`].
pub(super) fn ttl_from_seconds(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else if seconds >= MAX_TTL.as_secs_f64() {
        MAX_TTL
    } else {
        Duration::from_secs_f64(seconds)
    }
}

/// A column type a value can be read from.
fn is_bytes_or_text<DB: Database>(ty: &DB::TypeInfo) -> bool
where
    for<'q> &'q str: Type<DB>,
    for<'r> &'r [u8]: Type<DB>,
{
    <&[u8] as Type<DB>>::compatible(ty) || is_text::<DB>(ty)
}

/// A text column type.
fn is_text<DB: Database>(ty: &DB::TypeInfo) -> bool
where
    for<'q> &'q str: Type<DB>,
{
    <&str as Type<DB>>::compatible(ty)
}

/// A column type a TTL can be read from.
fn is_seconds<DB: Database>(ty: &DB::TypeInfo) -> bool
where
    i64: Type<DB>,
    i32: Type<DB>,
    f64: Type<DB>,
{
    <i64 as Type<DB>>::compatible(ty)
        || <i32 as Type<DB>>::compatible(ty)
        || <f64 as Type<DB>>::compatible(ty)
}

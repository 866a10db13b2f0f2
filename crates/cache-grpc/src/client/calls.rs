//! The peer-to-peer RPCs other than `Fetch`: `Put` (a leaving node's
//! handoff), `Invalidate` and `Store` (the two halves of a mesh-wide
//! `Remove` and `Set`, [`mutations`](crate::mutations)).
//!
//! Each is one unary call bounded by its budget, carrying this node's peer
//! token, skipped while the peer's breaker is open, and fed back into the
//! breaker like a fetch (a transport failure counts against the peer, any
//! status its server sent counts for it).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use cache_core::Error as CoreError;
use tonic::transport::Channel;

use super::{GrpcPeer, Verdict, verdict_of};
use crate::pb::groupcache_client::GroupcacheClient;
use crate::pb::{InvalidateRequest, PutEntry, PutRequest, SetRequest};
use crate::status;

impl GrpcPeer {
    /// Hands `entries` of `group` to this peer (`Put`), within `budget`:
    /// how many it stored. Used by a leaving node.
    pub async fn put(
        &self,
        group: &str,
        entries: Vec<PutEntry>,
        budget: Duration,
    ) -> Result<u32, CoreError> {
        let request = PutRequest {
            group: group.to_owned(),
            entries,
        };
        let answer = self
            .call(request, budget, |mut c, r| async move { c.put(r).await })
            .await?;
        Ok(answer.stored)
    }

    /// Asks this peer to drop `keys` of `group` from its caches
    /// (`Invalidate`), within `budget`: how many it held.
    pub async fn invalidate(
        &self,
        group: &str,
        keys: Vec<String>,
        budget: Duration,
    ) -> Result<u32, CoreError> {
        let request = InvalidateRequest {
            group: group.to_owned(),
            keys,
        };
        let answer = self
            .call(
                request,
                budget,
                |mut c, r| async move { c.invalidate(r).await },
            )
            .await?;
        Ok(answer.removed)
    }

    /// Hands a `Set` to this peer as the key's owner (`Store`): it stores
    /// the value and forwards it nowhere. Within `budget`.
    pub async fn store(
        &self,
        group: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        budget: Duration,
    ) -> Result<(), CoreError> {
        let request = SetRequest {
            group: group.to_owned(),
            key: key.to_owned(),
            value,
            ttl_ms: ttl.map_or(0, |t| {
                u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
            }),
        };
        self.call(request, budget, |mut c, r| async move { c.store(r).await })
            .await?;
        Ok(())
    }

    /// One peer RPC: `send` with `message`, this node's peer token and
    /// `budget` as its deadline; skipped (an error) while the breaker is
    /// open.
    async fn call<T, R, F, Fut>(
        &self,
        message: T,
        budget: Duration,
        send: F,
    ) -> Result<R, CoreError>
    where
        F: FnOnce(GroupcacheClient<Channel>, tonic::Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        if !self.breaker.allow() {
            return Err(CoreError::unavailable(
                "skipped: the peer's breaker is open",
            ));
        }
        if budget.is_zero() {
            return Err(CoreError::DeadlineExceeded);
        }
        let mut request = tonic::Request::new(message);
        request.set_timeout(budget);
        if let Some(tokens) = &self.peer_tokens {
            request
                .metadata_mut()
                .insert("authorization", tokens.header());
        }
        match tokio::time::timeout(budget, send(self.client(), request)).await {
            Ok(Ok(response)) => {
                self.record(Verdict::Alive, &"ok");
                Ok(response.into_inner())
            }
            Ok(Err(status)) => {
                self.record(verdict_of(&status), &status);
                Err(status::from_status(&status))
            }
            Err(_elapsed) => Err(CoreError::DeadlineExceeded),
        }
    }
}

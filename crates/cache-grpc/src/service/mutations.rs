//! The answers to `Remove`, `Set` (for admins) and to `Invalidate`,
//! `Store` (their peer-side halves). Requests are checked here, then handed
//! to [`crate::mutations`], which sends them across the mesh.
//!
//! Checks, each a clear status: the group must exist; `Remove` names 1 to
//! `max_batch_keys` keys, each valid; `Set` a valid key and a value within
//! `max_value_bytes` (else `RESOURCE_EXHAUSTED`, as for a value loaded).
//! `Invalidate` skips the keys it cannot hold (they are in no cache).

use std::time::Duration;

use tokio::time::Instant;
use tonic::Status;

use super::GroupcacheService;
use crate::middleware::deadline::Deadline;
use crate::mutations::{self, MutationReport};
use crate::pb;
use crate::status;

impl GroupcacheService {
    /// How long each step of a mutation may wait for the other nodes: the
    /// time left before the request's deadline, else the mutation timeout.
    pub(super) fn mutation_budget(&self, deadline: Option<&Deadline>) -> Duration {
        match deadline {
            Some(d) => d.at.saturating_duration_since(Instant::now()),
            None => self.mutation_timeout,
        }
    }

    /// `FAILED_PRECONDITION` when this node refuses `Remove` and `Set`.
    fn check_mutations_on(&self) -> Result<(), Status> {
        match &self.mutations_off {
            Some(reason) => Err(Status::failed_precondition(format!(
                "Remove and Set are off on this node: {reason}"
            ))),
            None => Ok(()),
        }
    }

    /// `Remove`: checks the request, then removes its keys mesh-wide.
    pub(super) async fn remove_answer(
        &self,
        request: pb::RemoveRequest,
        budget: Duration,
    ) -> Result<pb::MutationResponse, Status> {
        self.check_mutations_on()?;
        let g = self.group(&request.group)?;
        if request.keys.is_empty() {
            return Err(status::no_keys());
        }
        self.check_batch(request.keys.len())?;
        for key in &request.keys {
            g.check_key(key).map_err(|e| status::to_status(&e))?;
        }
        let report = mutations::remove(&g, &self.pool, &request.keys, budget).await;
        tracing::info!(group = %request.group, keys = request.keys.len(), unreached = report.unreached.len(), "removed across the mesh");
        Ok(response(report))
    }

    /// `Set`: checks the request, then stores the value at the key's owner
    /// and drops every other node's copy.
    pub(super) async fn set_answer(
        &self,
        request: pb::SetRequest,
        budget: Duration,
    ) -> Result<pb::MutationResponse, Status> {
        self.check_mutations_on()?;
        let g = self.group(&request.group)?;
        g.check_key(&request.key)
            .map_err(|e| status::to_status(&e))?;
        self.check_size(&request.value)?;
        let value = bytes::Bytes::copy_from_slice(&request.value);
        let report = mutations::set(
            &g,
            &self.pool,
            &request.key,
            value,
            ttl(request.ttl_ms),
            budget,
        )
        .await
        .map_err(|e| status::mutation_failed(&e))?;
        Ok(response(report))
    }

    /// `Invalidate` (from a peer): drops the keys here; how many were held.
    pub(super) fn invalidate_answer(
        &self,
        request: pb::InvalidateRequest,
    ) -> Result<pb::InvalidateResponse, Status> {
        let g = self.group(&request.group)?;
        let removed = request
            .keys
            .iter()
            .filter(|key| g.check_key(key).is_ok())
            .map(|key| u32::from(g.remove(key)))
            .sum();
        Ok(pb::InvalidateResponse { removed })
    }

    /// `Store` (a `Set` forwarded by a peer): stores the value here, as the
    /// key's owner. Never forwarded again, whoever this node's ring names.
    pub(super) fn store_answer(
        &self,
        request: pb::SetRequest,
    ) -> Result<pb::StoreResponse, Status> {
        let g = self.group(&request.group)?;
        self.check_size(&request.value)?;
        // An exact-size copy: the request's buffer is not kept alive by the
        // cache.
        let value = bytes::Bytes::copy_from_slice(&request.value);
        g.set(&request.key, value, ttl(request.ttl_ms))
            .map_err(|e| status::to_status(&e))?;
        Ok(pb::StoreResponse {})
    }
}

/// A TTL in milliseconds off the wire (0: none).
fn ttl(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

fn response(report: MutationReport) -> pb::MutationResponse {
    pb::MutationResponse {
        reached: report.reached,
        unreached: report
            .unreached
            .into_iter()
            .map(|(peer, error)| pb::PeerFailure { peer, error })
            .collect(),
        owner: report.owner,
    }
}

//! One HTTP/2 connection: its requests run as futures inside its task.

use std::future::{Future, poll_fn};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::stream::{self, Budget, StreamLimits};
use crate::transport::{
    CONNECTION_WINDOW, ConnInfo, GrpcService, MAX_FRAME_SIZE, MAX_SEND_BUFFER, STREAM_WINDOW,
    TransportConfig,
};

/// Serves one connection until the client closes it, it fails, its
/// keep-alive ping goes unanswered, its client resets streams faster than
/// `max_resets_per_second`, or (after `stop`) its last stream ends.
pub(super) async fn run<IO, S>(
    io: IO,
    svc: S,
    cfg: &TransportConfig,
    info: ConnInfo,
    stop: CancellationToken,
) -> Result<(), h2::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: GrpcService,
{
    let handshake = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME_SIZE)
        .max_header_list_size(cfg.max_header_list_size)
        .max_send_buffer_size(MAX_SEND_BUFFER)
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .max_pending_accept_reset_streams(cfg.max_pending_resets)
        .max_local_error_reset_streams(Some(cfg.max_local_error_resets))
        .handshake::<_, Bytes>(io);
    let mut conn = tokio::select! {
        () = stop.cancelled() => return Ok(()),
        done = tokio::time::timeout(cfg.handshake_timeout, handshake) => match done {
            Ok(conn) => conn?,
            Err(_) => return Ok(()), // no preface in time: drop the socket
        },
    };
    let mut pings = conn.ping_pong();
    let mut keepalive = tokio::time::interval_at(
        Instant::now() + cfg.keepalive_interval,
        cfg.keepalive_interval,
    );
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut awaiting_pong = false;
    let mut closing = false;
    let mut resets = ResetBudget::new(cfg.max_resets_per_second);
    // The budget was overspent and the connection is going away.
    let mut flooded = false;
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    // Fires at the connection's maximum age (GOAWAY), then once more
    // after the grace (close).
    let age = tokio::time::sleep(cfg.max_connection_age);
    tokio::pin!(age);
    let mut aged = false;
    let limits = StreamLimits {
        budget: Budget::new(cfg.max_queued_response_bytes),
        send_timeout: cfg.response_send_timeout,
        info,
    };
    let limits = &limits;
    let mut streams = FuturesUnordered::new();
    // One pass takes every request that is ready, then runs every stream
    // that can make progress, and repeats until neither can: the
    // connection is polled (and its writes flushed) once per batch, not
    // once per request.
    poll_fn(move |cx| {
        loop {
            let mut progress = false;
            while let Poll::Ready(accepted) = conn.poll_accept(cx) {
                match accepted {
                    Some(Ok((req, mut respond))) => {
                        progress = true;
                        if limits.budget.is_spent() {
                            respond.send_reset(h2::Reason::REFUSED_STREAM);
                            continue;
                        }
                        streams.push(stream::serve(svc.clone(), req, respond, limits));
                    }
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                    None => return Poll::Ready(Ok(())),
                }
            }
            while let Poll::Ready(Some(outcome)) = streams.poll_next_unpin(cx) {
                progress = true;
                if outcome == stream::Outcome::Reset && !resets.spend(Instant::now()) && !flooded {
                    tracing::warn!(
                        max_resets_per_second = resets.max,
                        "the client resets streams faster than allowed (a rapid-reset flood?): \
                         closing the connection with ENHANCE_YOUR_CALM"
                    );
                    conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                    flooded = true;
                    closing = true;
                }
            }
            if !closing && stopped.as_mut().poll(cx).is_ready() {
                closing = true;
                conn.graceful_shutdown();
                progress = true;
            }
            if age.as_mut().poll(cx).is_ready() {
                if aged {
                    tracing::debug!("connection past its maximum age and grace: closing");
                    return Poll::Ready(Ok(()));
                }
                aged = true;
                if !closing {
                    closing = true;
                    conn.graceful_shutdown();
                }
                age.as_mut().reset(later(cfg.connection_age_grace));
                progress = true;
            }
            if let Some(p) = pings.as_mut() {
                if awaiting_pong && let Poll::Ready(pong) = p.poll_pong(cx) {
                    awaiting_pong = false;
                    pong?;
                }
                if keepalive.poll_tick(cx).is_ready() {
                    if awaiting_pong {
                        tracing::debug!("keep-alive ping unanswered: closing the connection");
                        return Poll::Ready(Ok(()));
                    }
                    awaiting_pong = p.send_ping(h2::Ping::opaque()).is_ok();
                    progress = true;
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// `after` from now, or a year for a time too far to represent.
fn later(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// Streams the client reset before their answer, counted over windows of
/// one second from the first reset of each.
#[derive(Debug)]
struct ResetBudget {
    /// Resets allowed per window.
    max: u32,
    /// When the current window began (`None`: no reset yet).
    since: Option<Instant>,
    /// Resets in the current window.
    spent: u32,
}

impl ResetBudget {
    /// The length of a window.
    const WINDOW: Duration = Duration::from_secs(1);

    fn new(max: u32) -> Self {
        ResetBudget {
            max,
            since: None,
            spent: 0,
        }
    }

    /// Counts one reset at `now`; false if it is one more than `max` in
    /// its window.
    fn spend(&mut self, now: Instant) -> bool {
        match self.since {
            Some(since) if now.duration_since(since) < Self::WINDOW => {}
            _ => {
                self.since = Some(now);
                self.spent = 0;
            }
        }
        self.spent = self.spent.saturating_add(1);
        self.spent <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `max` resets pass in a window, the next fails; a new window starts
    /// a second after the first reset of the last one.
    #[test]
    fn the_reset_budget_is_per_second() {
        let start = Instant::now();
        let mut budget = ResetBudget::new(3);
        for _ in 0..3 {
            assert!(budget.spend(start));
        }
        assert!(!budget.spend(start + Duration::from_millis(999)));
        assert!(budget.spend(start + Duration::from_secs(1)));
        assert!(budget.spend(start + Duration::from_millis(1500)));
    }
}

//! The live progress bar (stderr, only on a terminal).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::config::Stop;
use super::worker::Shared;

/// Draws progress until the returned handle is aborted: elapsed time (or
/// completed requests) against the goal, and the current request rate.
pub(crate) fn spawn(sh: Arc<Shared>, stop: Stop, warmup: Duration) -> tokio::task::JoinHandle<()> {
    let (total, unit) = match stop {
        Stop::Duration(d) => ((d + warmup).as_millis() as u64, "ms"),
        Stop::Requests { count, .. } => (count, "req"),
    };
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} [{{bar:40}}] {{pos}}/{{len}} {unit}  {{msg}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    tokio::spawn(async move {
        let mut last = (Instant::now(), 0u64);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let now = Instant::now();
            let done = sh.done.load(Ordering::Relaxed);
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
            last = (now, done);
            let phase = if now < sh.measure_start {
                "warm-up"
            } else {
                "measuring"
            };
            bar.set_message(format!("{phase}  {rate:.0} req/s"));
            match stop {
                Stop::Duration(_) => {
                    bar.set_position(now.duration_since(sh.start).as_millis() as u64)
                }
                Stop::Requests { .. } => bar.set_position(done),
            }
            if sh.stop.load(Ordering::Relaxed) || now >= sh.deadline {
                bar.finish_and_clear();
                return;
            }
        }
    })
}

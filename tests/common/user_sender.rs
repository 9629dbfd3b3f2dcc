//! nvencstreamsink run for a benchmark the way users run it: in a process of its own that handles the
//! bus as `gst-launch-1.0` does (LATENCY messages recalculate the pipeline's latency), not beside the
//! receiver in the benchmark's process. The process is the benchmark's own binary started again with
//! [`FLAG`]: the same plugin build, and the picture stamp ([`super::stamp`]) written into each picture
//! as it leaves the source, which gst-launch-1.0 cannot do. Issue #29: a harness that never
//! recalculated latency read SRT 35 ms faster than the README's own launch line.
//!
//! The sender reports on its standard output, one line each: `encode MS` and `bitrate BPS` (its
//! `stats`, every 100 ms) and `state NICK` (each `connection-state` it enters).

use super::{stamp, Peer};
use gst::prelude::*;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first argument that makes a benchmark binary the sender: `BENCH --user-sender LAUNCH`.
pub const FLAG: &str = "--user-sender";

/// What the sender process said, line by line.
pub enum Report {
    Encode(f64),
    Bitrate(f64),
    State(String),
}

/// A running sender process.
pub struct UserSender {
    peer: Peer,
    reports: mpsc::Receiver<Report>,
    /// The `gst-launch-1.0` line that runs the same pipeline, for the results file.
    pub launch: String,
}

/// `gst-launch-1.0 LAUNCH` without the stamp's `identity name=stamp` (which only names the place the
/// stamp is written): the line a user would type for the same sender.
pub fn as_gst_launch(launch: &str) -> String {
    format!(
        "gst-launch-1.0 {}",
        launch.replace(" ! identity name=stamp", "")
    )
}

impl UserSender {
    /// Starts `launch` (a pipeline with `identity name=stamp` after its source and `nvencstreamsink
    /// name=s`) in a process of its own.
    pub fn start(launch: &str) -> UserSender {
        let exe = std::env::current_exe().expect("benchmark binary");
        let mut child = Command::new(exe)
            .args([FLAG, launch])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sender process");
        let (tx, reports) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    let (key, value) = line.split_once(' ').unwrap_or((&line, ""));
                    let report = match key {
                        "encode" => value.parse().ok().map(Report::Encode),
                        "bitrate" => value.parse().ok().map(Report::Bitrate),
                        "state" => Some(Report::State(value.to_string())),
                        _ => None,
                    };
                    if let Some(r) = report {
                        if tx.send(r).is_err() {
                            break;
                        }
                    }
                }
            });
        }
        UserSender {
            peer: Peer {
                child,
                name: "sender".into(),
            },
            reports,
            launch: as_gst_launch(launch),
        }
    }

    /// Waits up to `timeout` for the sender to report connection-state `nick`.
    pub fn wait_state(&self, nick: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok(Report::State(s)) if s == nick => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Waits up to `timeout` for the sender to end by itself (its source's last picture, EOS), and
    /// gives what it reported meanwhile; stopped by pid if it has not ended by then.
    pub fn finish(mut self, timeout: Duration) -> (bool, Vec<Report>) {
        let deadline = Instant::now() + timeout;
        let mut ended = false;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.peer.child.try_wait() {
                ended = status.success();
                break;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        // Dropping the peer kills the process if it still runs, and closes its output.
        drop(self.peer);
        (ended, self.reports.try_iter().collect())
    }
}

/// In a benchmark binary started with [`FLAG`]: runs the sender and exits with its status; returns at
/// once otherwise. Call it first in `main`, after GStreamer and the plugins are initialised.
pub fn serve_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(FLAG) {
        return;
    }
    let launch = args.get(2).cloned().unwrap_or_default();
    std::process::exit(match run(&launch) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sender: {e}");
            1
        }
    });
}

/// One report line; a reader gone (the benchmark stopped listening) is not the sender's error.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The sender's bus loop, as gst-launch-1.0's: LATENCY recalculates, EOS or ERROR ends.
fn run(launch: &str) -> Result<(), String> {
    let pipeline = gst::parse::launch(launch)
        .map_err(|e| format!("{launch}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    if let Some(e) = pipeline.by_name("stamp") {
        stamp::stamp_at(&e);
    }
    let sink = pipeline.by_name("s");
    let bus = pipeline.bus().ok_or("no bus")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{e}"))?;
    let mut last_state = String::new();
    let result = loop {
        let message = bus.timed_pop(gst::ClockTime::from_mseconds(100));
        if let Some(sink) = &sink {
            let stats = sink.property::<gst::Structure>("stats");
            if let Ok(ms) = stats.get::<f64>("last-encode-time") {
                say(&format!("encode {ms}"));
            }
            if let Ok(bps) = stats.get::<u64>("bitrate") {
                say(&format!("bitrate {bps}"));
            }
            let state = gst::glib::EnumValue::from_value(&sink.property_value("connection-state"))
                .map(|(_, v)| v.nick().to_string())
                .unwrap_or_default();
            if state != last_state {
                say(&format!("state {state}"));
                last_state = state;
            }
        }
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Latency(_)) => {
                let _ = pipeline.recalculate_latency();
            }
            Some(gst::MessageView::Eos(_)) => break Ok(()),
            Some(gst::MessageView::Error(e)) => {
                break Err(format!("{} ({:?})", e.error(), e.debug()));
            }
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

//! Benchmark (not a test): how many 640×360 30 fps software-encoded streams one process sustains in real
//! time, with `nvencstreamsink` and with the equivalent hand-written pipelines (issue #9, figure 6).
//!
//! N streams run side by side in this process, each to its own stream name on one nginx-rtmp. A run is
//! real time when every stream delivered at least 95 % of its frames to its `rtmp2sink` during the
//! measured window (after a warm-up). N doubles until a run is not real time, then is bisected. The hand-written line
//! is read off a running nvencstreamsink (`tests/common/bench.rs`). NVENC cannot be measured here (no
//! GPU): the results file states the published session limits instead.
//!
//! `./run bench` runs it (CAPACITY_SECONDS, default 10; CAPACITY_MAX, default 40: nginx takes 64 connections) and writes
//! target/bench/capacity.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{bench, nginx::nginx, poll};
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SOURCE: &str =
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1";
const SETTINGS: &str =
    "include-silent-audio=off quality=lowlatencymedium avg-bitrate=1 keyframe-interval=60";
const WARM_UP: Duration = Duration::from_secs(3);

/// Frames (non-header buffers) that reached each stream's `rtmp2sink`.
fn count_at_sinks(pipeline: &gst::Pipeline, n: usize) -> Option<Vec<Arc<AtomicU64>>> {
    let sinks: Vec<gst::Element> = pipeline
        .iterate_all_by_element_factory_name("rtmp2sink")
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    if sinks.len() < n {
        return None;
    }
    let counters: Vec<Arc<AtomicU64>> = sinks
        .iter()
        .map(|sink| {
            let c = Arc::new(AtomicU64::new(0));
            let counter = c.clone();
            if let Some(pad) = sink.static_pad("sink") {
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if info
                        .buffer()
                        .is_some_and(|b| !b.flags().contains(gst::BufferFlags::HEADER))
                    {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            c
        })
        .collect();
    Some(counters)
}

/// Whether `n` streams of `branch(i)` keep up: the least fraction of frames delivered, in [0, 1].
fn trial(n: usize, seconds: u32, branch: &dyn Fn(usize) -> String) -> f64 {
    let launch: Vec<String> = (0..n).map(branch).collect();
    let pipeline = gst::parse::launch(&launch.join(" "))
        .expect("launch")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    pipeline.set_state(gst::State::Playing).expect("play");
    // Every stream's rtmp2sink exists (nvencstreamsink builds it at start; it connects during the
    // warm-up, before the measured window).
    let counters = poll(Duration::from_secs(20), || count_at_sinks(&pipeline, n))
        .expect("an rtmp2sink per stream");
    std::thread::park_timeout(WARM_UP);
    let start: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    std::thread::park_timeout(Duration::from_secs(u64::from(seconds)));
    let worst = counters
        .iter()
        .zip(&start)
        .map(|(c, s)| (c.load(Ordering::Relaxed) - s) as f64 / (30.0 * f64::from(seconds)))
        .fold(f64::INFINITY, f64::min);
    let _ = pipeline.set_state(gst::State::Null);
    worst
}

/// The search for the largest N (at most `max`) that runs in real time: N doubles from `start` until a
/// trial does not keep up (or `max` is reached), then is bisected. Keeps every (N, worst fraction
/// delivered) tried, in order.
struct Search {
    max: usize,
    good: usize,
    bad: Option<usize>,
    next: Option<usize>,
    tried: Vec<(usize, f64)>,
}

impl Search {
    fn new(start: usize, max: usize) -> Search {
        Search {
            max,
            good: 0,
            bad: None,
            next: Some(start.clamp(1, max.max(1))),
            tried: Vec::new(),
        }
    }

    fn report(&mut self, n: usize, delivered: f64) {
        self.tried.push((n, delivered));
        if delivered >= 0.95 {
            self.good = n;
        } else {
            self.bad = Some(n);
        }
        self.next = match self.bad {
            None if n < self.max => Some((n * 2).min(self.max)),
            None => None,
            Some(hi) if hi - self.good > 1 => Some((self.good + hi) / 2),
            Some(_) => None,
        };
    }
}

fn main() {
    bench::init_or_exit();
    let seconds = bench::env_u32("CAPACITY_SECONDS", 6);
    let start = bench::env_u32("CAPACITY_START", 8) as usize;
    let max = bench::env_u32("CAPACITY_MAX", 40) as usize;
    let ng = nginx(None);
    let url = format!("rtmp://127.0.0.1:{}/live/", ng.port);
    let reference = bench::hand_written(
        SOURCE,
        &format!("mode=rtmp url={url}capX {SETTINGS}"),
        || {},
    );
    let ours =
        |i: usize| format!("{SOURCE} ! nvencstreamsink mode=rtmp url={url}cap{i} {SETTINGS}");
    let hand = |i: usize| reference.replace("capX", &format!("cap{i}"));
    // Both searches advance together, one trial of each side in turn, so that both meet the same
    // load of this shared machine.
    let sides: [(&str, &dyn Fn(usize) -> String); 2] =
        [("nvencstreamsink", &ours), ("hand-written", &hand)];
    let mut searches = [Search::new(start, max), Search::new(start, max)];
    while searches.iter().any(|s| s.next.is_some()) {
        for (search, (name, branch)) in searches.iter_mut().zip(sides) {
            if let Some(n) = search.next {
                let f = trial(n, seconds, branch);
                eprintln!(
                    "{name}, {n} streams: worst stream delivered {:.1} % of its frames",
                    f * 100.0
                );
                search.report(n, f);
            }
        }
    }
    let [ours_search, hand_search] = searches;
    let (n_ours, f_ours) = (ours_search.good, ours_search.tried);
    let (n_hand, f_hand) = (hand_search.good, hand_search.tried);
    drop(ng);
    let tried = |t: &[(usize, f64)]| {
        t.iter()
            .map(|(n, f)| format!("{n}: {:.0}", f * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let md = format!(
        "## Streams per machine (issue #9)\n\n\
         640×360 at 30 fps, software H.264 (`{SETTINGS}`), N streams in one process, each to its own \
         stream on one nginx-rtmp. Real time = every stream delivers ≥ 95 % of its frames to its \
         rtmp2sink over {seconds} s after a {} s warm-up; N starts at {start} and doubles until it does not, then is bisected (at most {max}); one trial per N, the two sides' trials taken in turn. The hand-written \
         line is read off the running element. Command: `./run bench`.\n\n\
         | | streams sustained | N tried: worst stream's frames delivered (%) |\n|---|---|---|\n\
         | nvencstreamsink | **{n_ours}** | {} |\n| hand-written pipelines | **{n_hand}** | {} |\n\n\
         NVENC cannot be measured here (no GPU). There the encode moves to the GPU and the first limit \
         is the driver's number of concurrent NVENC sessions: NVIDIA's published limit for consumer \
         GeForce cards is 8 per system (since driver 551; 5 and 3 with older drivers), so an estimate for \
         a GeForce machine is min(8, the CPU-side limit); professional and data-centre cards have no \
         session limit and are bounded by encoder throughput (NVIDIA's NVENC application note gives \
         frames per second per chip by preset and resolution), not measurable here.\n",
        WARM_UP.as_secs(),
        tried(&f_ours),
        tried(&f_hand)
    );
    bench::write_section("capacity.md", &md);
}

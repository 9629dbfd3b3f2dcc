//! Benchmark (not a test): glass-to-glass latency over WebRTC on loopback (issue #20), both encode paths
//! (`webrtc-encode=shared` and `per-viewer`), read two ways: by `webrtcsrc` (the stamp read after
//! `avdec_h264`, as in the other transports' rows) and by headless Chromium (the viewer page with
//! `stamp=1` reads the stamp of each frame as it is shown, requestVideoFrameCallback's
//! expectedDisplayTime against the same wall clock).
//!
//! WebRTC on loopback needs a network namespace with only a loopback interface (libnice): the bench
//! runs itself again inside one (`unshare`, as root or with user namespaces). `./run bench` runs it
//! (WEBRTC_SECONDS per run, default 10; WEBRTC_ROUNDS, default 3) and writes target/bench/webrtc_latency.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::glass::{percentile, stamped_line, Samples, SKIP};
use common::user_sender::UserSender;
use common::webrtc::{ice_on_loopback, receive_pads, wait_for, Browser, Signalling};
use common::{bench, stamp};
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SOURCE: &str = "videotestsrc is-live=true pattern=ball ! \
                      video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! identity name=stamp";
const SETTINGS: &str =
    "quality=lowlatencyhigh keyframe-interval=30 avg-bitrate=4 include-silent-audio=off";

const WEBRTCSRC: &str = "webrtcsrc";
const CHROMIUM: &str = "Chromium, the viewer page (least playout delay)";
const CHROMIUM_SMOOTH: &str = "Chromium, the viewer page with playout=smooth";

struct Row {
    encode: &'static str,
    receiver: &'static str,
    runs: Vec<Run>,
}

/// One run of one row.
struct Run {
    p50: f64,
    p95: f64,
    frames: usize,
    /// Chromium: the p50 age of each frame's last packet (its receiveTime); webrtcsrc: none.
    arrival: Option<f64>,
}

fn main() {
    bench::rerun_in_loopback_netns();
    common::init_webrtc();
    // Started again by itself as the sender process (common::user_sender, as users run senders).
    common::user_sender::serve_if_asked();
    let seconds = bench::env_u32("WEBRTC_SECONDS", 10);
    let rounds = bench::env_u32("WEBRTC_ROUNDS", 3);
    let mut rows: Vec<Row> = [
        ("shared", WEBRTCSRC),
        ("shared", CHROMIUM),
        ("shared", CHROMIUM_SMOOTH),
        ("per-viewer", WEBRTCSRC),
        ("per-viewer", CHROMIUM),
        ("per-viewer", CHROMIUM_SMOOTH),
    ]
    .into_iter()
    .map(|(encode, receiver)| Row {
        encode,
        receiver,
        runs: vec![],
    })
    .collect();
    // WEBRTC_ROWS: only the rows whose "encode → receiver" contains it (e.g. "per-viewer → Chromium").
    if let Ok(only) = std::env::var("WEBRTC_ROWS") {
        rows.retain(|r| format!("{} → {}", r.encode, r.receiver).contains(&only));
    }
    for round in 0..rounds {
        for row in rows.iter_mut() {
            let sig = Signalling::start();
            let name = format!("bench{round}");
            // The sender as users run it: a process of its own (common::user_sender).
            let tx = UserSender::start(&stamped_line(
                SOURCE,
                seconds * 30 + 150,
                &format!(
                    "nvencstreamsink name=s mode=webrtc url={} stream-name={name} ice-addresses=127.0.0.1 \
                     webrtc-encode={} {SETTINGS}",
                    sig.ws, row.encode
                ),
            ));
            // Registered with the signalling server before a viewer asks for the stream.
            if !tx.wait_state("connected", Duration::from_secs(20)) {
                eprintln!("the sender did not register with the signalling server");
            }
            let (ages, arrival) = if row.receiver != WEBRTCSRC {
                chromium(&sig, &name, seconds, row.receiver == CHROMIUM_SMOOTH)
            } else {
                (webrtcsrc(&sig, seconds), None)
            };
            drop(tx);
            let p50 = percentile(&ages, 0.5);
            eprintln!(
                "WebRTC {} → {}: {} frames measured, p50 {p50:.1} ms",
                row.encode,
                row.receiver,
                ages.len()
            );
            row.runs.push(Run {
                p50,
                p95: percentile(&ages, 0.95),
                frames: ages.len(),
                arrival,
            });
        }
    }
    let mut md = format!(
        "## Glass-to-glass latency over WebRTC on loopback (issues #20, #29)\n\n\
         1280×720 at 30 fps, software H.264 (`{SETTINGS}`), video only, {seconds} s measured per run after \
         the first {SKIP} frames shown. Latency = wall-clock time written into each picture as it leaves the \
         source (the stamp of the other latency rows), read back by `webrtcsrc` (its defaults; RTP on to \
         `rtph264depay ! h264parse ! avdec_h264`, read after the decoder) or by headless Chromium (the \
         viewer page `tools/webrtc-viewer.html?stamp=1`: each frame drawn to a canvas in \
         requestVideoFrameCallback, against its expectedDisplayTime; *last packet*: the same stamp against the \
         frame's receiveTime, the part before Chromium's decoder and compositor). One sender (in a process of its own that handles LATENCY messages as gst-launch-1.0 does, as users \
         run it) and one viewer per run, \
         in a network namespace with only a loopback interface. Median over {rounds} runs (min–max) of \
         each run's p50 and p95; ms. Command: `./run bench`.\n\n\
         | encode | receiver | frames measured per run | p50 ms | p95 ms | last packet p50 ms |\n\
         |---|---|---|---|---|---|\n"
    );
    for row in &rows {
        let col =
            |f: &dyn Fn(&Run) -> f64, digits| bench::runs_cell(row.runs.iter().map(f), digits);
        // webrtcsrc: no arrival time ("–").
        let arrival = col(&|r| r.arrival.unwrap_or(f64::NAN), 1);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {arrival} |\n",
            row.encode,
            row.receiver,
            col(&|r| r.frames as f64, 0),
            col(&|r| r.p50, 1),
            col(&|r| r.p95, 1),
        ));
    }
    md.push('\n');
    bench::write_section("webrtc_latency.md", &md);
}

/// The viewer page in headless Chromium for `seconds` (plus the first second): the age of every frame
/// it showed after the first SKIP, from its final report.
fn chromium(sig: &Signalling, name: &str, seconds: u32, smooth: bool) -> (Vec<f64>, Option<f64>) {
    let viewer = format!("{name}-chromium");
    let mut page = format!("{}&stamp=1", sig.page(name, &viewer, seconds + 2));
    if smooth {
        page.push_str("&playout=smooth");
    }
    let _browser = Browser::open(&page);
    let Some(report) = sig.report(&viewer, Duration::from_secs(seconds as u64 + 40), |r| {
        r["final"] == true
    }) else {
        eprintln!("no final report from Chromium");
        return (vec![], None);
    };
    eprintln!(
        "  Chromium: {} frames decoded, last packet {:.1} ms after capture (p50), jitter buffer {:.1} ms, \
         decode {:.1} ms per frame, {} stamps unreadable",
        report["framesDecoded"],
        report["arrivalP50"].as_f64().unwrap_or(f64::NAN),
        report["jitterBufferMs"].as_f64().unwrap_or(f64::NAN),
        report["decodeMs"].as_f64().unwrap_or(f64::NAN),
        report["stampsUnreadable"]
    );
    let ages = report["latencies"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    (ages, report["arrivalP50"].as_f64())
}

/// webrtcsrc with its defaults, connected to the first producer: the age of every decoded picture
/// after the first SKIP, for `seconds`.
fn webrtcsrc(sig: &Signalling, seconds: u32) -> Vec<f64> {
    let rx = gst::Pipeline::new();
    // As a user's receiver does (README): tdwebrtcsupport registers webrtcsrc where no system copy is.
    // (The sender, in a process of its own, no longer registers it in this one.)
    let _support = gst::ElementFactory::make("tdwebrtcsupport").build();
    let Ok(src) = gst::ElementFactory::make("webrtcsrc")
        .property("connect-to-first-producer", true)
        .build()
    else {
        eprintln!("webrtcsrc is missing");
        return vec![];
    };
    src.property::<gst::glib::Object>("signaller")
        .set_property("uri", &sig.ws);
    src.set_property("stun-server", None::<String>);
    ice_on_loopback(&src);
    let _ = rx.add(&src);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let s = Arc::clone(&samples);
    receive_pads(
        &rx,
        &src,
        "rtph264depay ! h264parse ! avdec_h264 ! video/x-raw,format=I420 ! fakesink name=out sync=false",
        move |b| {
            let now = gsttdstream::meta::latency::now_us();
            let age = b
                .map_readable()
                .ok()
                .and_then(|m| stamp::age_us(&m, 1280, now));
            let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
            s.decoded += 1;
            match age {
                Some(us) if s.decoded > SKIP => s.pixel.push(us as f64 / 1000.0),
                Some(_) => {}
                None => s.unreadable += 1,
            }
        },
    );
    let _ = rx.set_state(gst::State::Playing);
    let want = seconds as usize * 30;
    wait_for(Duration::from_secs(seconds as u64 + 30), || {
        samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pixel
            .len()
            >= want
    });
    let _ = rx.set_state(gst::State::Null);
    let s = samples.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "  webrtcsrc: {} decoded, {} stamps unreadable",
        s.decoded, s.unreadable
    );
    s.pixel.clone()
}

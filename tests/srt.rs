//! mode=srt against real SRT peers on 127.0.0.1: ffprobe and srtsrc as callers to our listener,
//! srt-live-transmit as the listener for our caller, with and without a passphrase.

mod common;

use common::*;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn spawn_sender(props: String, w: u32, h: u32, secs: u32) -> std::thread::JoinHandle<BusLog> {
    std::thread::spawn(move || {
        run_launch(
            &sender(&props, w, h, secs),
            Duration::from_secs(secs as u64 + 20),
        )
    })
}

#[test]
fn listener_is_read_by_ffprobe_with_codec_profile_and_size() {
    init();
    let port = free_port();
    let s = spawn_sender(
        format!(
            "mode=srt url=srt://127.0.0.1:{port}?mode=listener profile=high keyframe-interval=15"
        ),
        320,
        240,
        6,
    );
    let url = format!("srt://127.0.0.1:{port}?mode=caller");
    // The listener binds when the sender starts; ffprobe retries until it is there.
    let probe = ffprobe_until(
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_streams",
            &url,
        ],
        1,
        Duration::from_secs(15),
        Duration::from_secs(10),
    )
    .expect("ffprobe read the SRT stream");
    let log = s.join().expect("sender thread");
    assert!(log.errors.is_empty(), "{}", log.text());
    let st = &probe["streams"][0];
    assert_eq!(st["codec_name"], "h264", "{probe}");
    assert_eq!(st["profile"], "High", "{probe}");
    assert_eq!(st["width"], 320);
    assert_eq!(st["height"], 240);
    let frames: u64 = st["nb_read_frames"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(frames >= 60, "decoded only {frames} frames: {probe}");
}

/// Receives with srtsrc as caller and counts decoded frames.
fn receive_frames(uri: &str, extra: &str, timeout: Duration) -> (u64, BusLog) {
    // output-corrupt=false: only pictures decoded whole count (libav conceals the rest by default).
    let launch = format!("srtsrc uri=\"{uri}\" {extra} ! tsdemux ! h264parse ! avdec_h264 output-corrupt=false ! fakesink name=out sync=false");
    let pipeline = gst::parse::launch(&launch)
        .expect("receiver")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let frames = Arc::new(AtomicU64::new(0));
    let f = frames.clone();
    let sink = pipeline.by_name("out").expect("out");
    sink.static_pad("sink")
        .expect("pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            f.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let log = run_pipeline(&pipeline, timeout, |_| false);
    let _ = pipeline.set_state(gst::State::Null);
    (frames.load(Ordering::Relaxed), log)
}

#[test]
fn listener_with_passphrase_is_decoded_by_srtsrc() {
    init();
    let port = free_port();
    let pass = "listener-pass-123";
    let s = spawn_sender(
        format!("mode=srt url=\"srt://127.0.0.1:{port}?mode=listener&passphrase={pass}&pbkeylen=16&latency=80\" keyframe-interval=15"),
        320,
        240,
        5,
    );
    let uri = format!("srt://127.0.0.1:{port}?mode=caller");
    let frames = poll(Duration::from_secs(10), || {
        let (n, _) = receive_frames(
            &uri,
            &format!("passphrase={pass} pbkeylen=16"),
            Duration::from_secs(8),
        );
        (n > 0).then_some(n)
    })
    .expect("srtsrc decoded frames");
    let log = s.join().expect("sender");
    assert!(log.errors.is_empty(), "{}", log.text());
    // 150 sent; 141 seen decoded whole (the caller joins at a keyframe, GOP 15).
    assert!(frames >= 120, "decoded {frames} of 150 frames");
}

fn caller_to_transmit(passphrase: Option<&str>) {
    init();
    let port = free_port();
    let dir = tmpdir("srt-caller");
    let out = dir.join("received.ts");
    let peer = srt_listener(port, passphrase, Some(&out));
    let mut url = format!("srt://127.0.0.1:{port}?mode=caller&latency=60");
    if let Some(p) = passphrase {
        url.push_str(&format!("&passphrase={p}"));
    }
    let log = run_launch(
        &sender(
            &format!("mode=srt url=\"{url}\" keyframe-interval=30"),
            320,
            240,
            4,
        ),
        Duration::from_secs(25),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    assert!(log.eos, "{}", log.text());
    drop(peer);
    let probe = ffprobe(
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_streams",
            out.to_str().expect("path"),
        ],
        Duration::from_secs(20),
    );
    let st = &probe["streams"][0];
    assert_eq!(st["codec_name"], "h264", "{probe}");
    let frames: u64 = st["nb_read_frames"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        frames >= 100,
        "far side decoded {frames} of 120 frames: {probe}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn caller_reaches_srt_live_transmit() {
    caller_to_transmit(None);
}

#[test]
fn caller_reaches_srt_live_transmit_with_passphrase() {
    caller_to_transmit(Some("caller-secret-456"));
}

#[test]
fn wrong_passphrase_is_a_clear_error_without_the_secret() {
    init();
    let port = free_port();
    let dir = tmpdir("srt-wrong");
    let _peer = srt_listener(port, Some("the-right-passphrase"), Some(&dir.join("x.ts")));
    let wrong = "a-wrong-passphrase-789";
    let log = run_launch(
        &sender(
            &format!("mode=srt url=\"srt://127.0.0.1:{port}?mode=caller&passphrase={wrong}\""),
            160,
            120,
            5,
        ),
        Duration::from_secs(20),
    );
    let text = log.text();
    assert!(!log.errors.is_empty(), "expected an error: {text}");
    let err = &log.errors[0];
    assert!(err.contains("mode=srt"), "{err}");
    assert!(err.to_lowercase().contains("passphrase"), "{err}");
    assert!(!text.contains(wrong), "secret leaked: {text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// CBR at 1 Mbit/s: the video bitrate measured on the far side over 10 s is within 20%.
#[test]
fn cbr_bitrate_is_within_20_percent_of_avg_bitrate() {
    init();
    let port = free_port();
    let s = spawn_sender(
        format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener bitrate-mode=cbr avg-bitrate=1.0 keyframe-interval=30"),
        640,
        360,
        13,
    );
    let launch = format!(
        "srtsrc uri=srt://127.0.0.1:{port}?mode=caller ! tsdemux ! h264parse ! fakesink name=out sync=false"
    );
    let measured = poll(Duration::from_secs(10), || {
        let pipeline = gst::parse::launch(&launch)
            .ok()?
            .downcast::<gst::Pipeline>()
            .ok()?;
        let samples = Arc::new(std::sync::Mutex::new(Vec::<(u64, usize)>::new()));
        let s2 = samples.clone();
        pipeline.by_name("out")?.static_pad("sink")?.add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                    if let Some(pts) = b.pts() {
                        s2.lock().unwrap().push((pts.nseconds(), b.size()));
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
        run_pipeline(&pipeline, Duration::from_secs(20), |_| false);
        let _ = pipeline.set_state(gst::State::Null);
        let v = samples.lock().unwrap().clone();
        (v.len() > 200).then_some(v)
    })
    .expect("received the stream");
    s.join().expect("sender");
    // Skip the first second (join and rate-control start), measure over 10 s of stream time.
    let t0 = measured[0].0 + 1_000_000_000;
    let t1 = t0 + 10_000_000_000;
    let bytes: usize = measured
        .iter()
        .filter(|(t, _)| *t >= t0 && *t < t1)
        .map(|(_, b)| b)
        .sum();
    let mbps = bytes as f64 * 8.0 / 10.0 / 1e6;
    println!("measured CBR video bitrate: {mbps:.3} Mbit/s (target 1.0)");
    assert!(
        (0.8..=1.2).contains(&mbps),
        "measured {mbps} Mbit/s for avg-bitrate=1.0"
    );
}

/// With no caller connected, a listener drops instead of blocking: the pipeline runs in real time to EOS.
#[test]
fn listener_without_caller_never_blocks_the_pipeline() {
    init();
    let port = free_port();
    let started = std::time::Instant::now();
    let log = run_launch(
        &sender(
            &format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener"),
            160,
            120,
            2,
        ),
        Duration::from_secs(20),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    assert!(log.eos, "the pipeline did not reach EOS: {}", log.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// fps resamples the frame rate; Opus audio (silent track forced on) travels in MPEG-TS.
#[test]
fn fps_and_opus_over_srt() {
    init();
    let port = free_port();
    let s = spawn_sender(
        format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener fps=15 keyframe-interval=15 audio-codec=opus include-silent-audio=on"),
        320,
        240,
        5,
    );
    let url = format!("srt://127.0.0.1:{port}?mode=caller");
    let probe = ffprobe_until(
        &["-show_streams", &url],
        2,
        Duration::from_secs(10),
        Duration::from_secs(10),
    )
    .expect("ffprobe read both streams");
    s.join().expect("sender");
    let streams = probe["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video");
    assert_eq!(video["r_frame_rate"], "15/1", "{probe}");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio");
    assert_eq!(audio["codec_name"], "opus", "{probe}");
}

/// active=false at start: input is dropped, no port is opened, the connection stays disconnected.
#[test]
fn inactive_opens_nothing() {
    init();
    let port = free_port();
    let launch = sender(
        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener active=false"),
        160,
        120,
        2,
    );
    let pipeline = gst::parse::launch(&launch)
        .expect("parse")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = pipeline.by_name("s").expect("s");
    let mut port_free_while_playing = true;
    let log = run_pipeline(&pipeline, Duration::from_secs(20), |_| {
        port_free_while_playing &= std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        false
    });
    let state = sink
        .property_value("connection-state")
        .serialize()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let _ = pipeline.set_state(gst::State::Null);
    assert!(log.errors.is_empty() && log.eos, "{}", log.text());
    assert!(
        port_free_while_playing,
        "the SRT port was opened although active=false"
    );
    assert_eq!(state, "disconnected");
}

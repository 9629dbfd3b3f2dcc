//! mode=webrtc and mode=whip against real peers on 127.0.0.1: headless Chromium (frames it decoded, the
//! codec from getStats, Opus audio) for both encode paths, webrtcsrc reading the metadata back in order,
//! whipserversrc receiving a WHIP publish, and the bad inputs (no signalling server, a browser that
//! leaves, combinations browsers cannot play). The tests that carry media run in a network namespace
//! with only a loopback interface.
#![cfg(feature = "webrtc")]

mod common;

use common::live::Run;
use common::netns::in_loopback_netns;
use common::webrtc::{receive_pads, viewer, wait_for, whip_server, Browser, Signalling};
use common::*;
use gst::prelude::*;
use gsttdstream::meta::frame_meta;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECONDS: u32 = 5;

/// A live 640x360 test pattern with a tone into nvencstreamsink named `s`.
fn sender(props: &str) -> String {
    let video = test_pattern_into(
        "",
        &format!("ice-addresses=127.0.0.1 {props}"),
        (640, 360),
        0,
    );
    format!("{video} audiotestsrc is-live=true wave=ticks ! s.audio")
}

/// Starts the sender and waits until it has registered with the signalling server.
fn registered(launch: &str) -> Run {
    init_webrtc();
    let mut run = Run::start(launch);
    assert!(
        run.until_state("connected", 1, Duration::from_secs(20)),
        "not registered with the signalling server: {:?} {:?}",
        run.states,
        run.errors
    );
    run
}

/// Chromium plays the stream for SECONDS: frames decoded, H.264 with the expected profile, Opus audio
/// (from the audio pad, or the silent track when `silent`).
fn browser_plays(encode: &str, profile_level_id: &str, silent: bool) {
    let sig = Signalling::start();
    let name = format!("cam-{encode}");
    let props = format!(
        "mode=webrtc url={} stream-name={name} webrtc-encode={encode}",
        sig.ws
    );
    let launch = if silent {
        format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! \
             nvencstreamsink name=s ice-addresses=127.0.0.1 include-silent-audio=on {props}"
        )
    } else {
        sender(&props)
    };
    let mut run = registered(&launch);
    let _browser = Browser::open(&sig.page(&name, "a", SECONDS));
    let report = sig
        .report("a", Duration::from_secs(60), |r| r["final"] == true)
        .expect("no final report from the browser within 60 s");
    println!("browser: {report}");
    let frames = report["frames"].as_u64().unwrap_or(0);
    assert!(
        frames >= 15 * SECONDS as u64,
        "{frames} frames shown in {SECONDS} s: {report}"
    );
    assert_eq!(report["codec"], "video/H264", "{report}");
    assert_eq!(report["frameWidth"], 640, "{report}");
    let fmtp = report["fmtp"].as_str().unwrap_or_default();
    assert!(
        fmtp.contains(&format!("profile-level-id={profile_level_id}")),
        "{fmtp}"
    );
    assert_eq!(report["audioCodec"], "audio/OPUS", "{report}");
    assert!(
        report["audioPackets"].as_u64().unwrap_or(0) >= 25 * SECONDS as u64,
        "{report}"
    );
    // What the sender's bus said meanwhile (nobody read it since it registered).
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn browser_plays_the_shared_encode_with_audio() {
    if in_loopback_netns("browser_plays_the_shared_encode_with_audio") {
        // profile=main (the default): 4d.
        browser_plays("shared", "4d", false);
    }
}

#[test]
fn browser_plays_the_per_viewer_encode_with_silent_audio() {
    if in_loopback_netns("browser_plays_the_per_viewer_encode_with_silent_audio") {
        // webrtcsink negotiates the profile with the browser (constrained baseline first); no audio
        // pad: the silent Opus track.
        browser_plays("per-viewer", "42", true);
    }
}

/// A viewer that joins a shared encode mid-GOP (keyframe-interval=300: 10 s) is shown pictures at once:
/// its peer connection coming up asks the encoder for a keyframe.
#[test]
fn a_viewer_joining_a_shared_encode_mid_gop_sees_pictures_at_once() {
    if !in_loopback_netns("a_viewer_joining_a_shared_encode_mid_gop_sees_pictures_at_once") {
        return;
    }
    let sig = Signalling::start();
    let mut run = registered(&sender(&format!(
        "mode=webrtc url={} stream-name=late keyframe-interval=300",
        sig.ws
    )));
    assert!(
        run.until(Duration::from_secs(10), |r| r.stat_u64("frames-encoded")
            >= 60),
        "the sender did not encode"
    );
    let _browser = Browser::open(&sig.page("late", "late", SECONDS));
    let report = sig
        .report("late", Duration::from_secs(60), |r| r["final"] == true)
        .expect("no final report from the browser within 60 s");
    let frames = report["frames"].as_u64().unwrap_or(0);
    // Without a keyframe on joining, the first one comes 10 s after the start: nothing in the window.
    assert!(
        frames >= 15 * SECONDS as u64,
        "{frames} frames shown in {SECONDS} s: {report}"
    );
    // What the sender's bus said meanwhile (nobody read it since it registered).
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn a_browser_that_leaves_does_not_stop_the_stream() {
    if !in_loopback_netns("a_browser_that_leaves_does_not_stop_the_stream") {
        return;
    }
    let sig = Signalling::start();
    let mut run = registered(&sender(&format!(
        "mode=webrtc url={} stream-name=cam",
        sig.ws
    )));
    let leaving = Browser::open(&sig.page("cam", "leaving", 60));
    let staying = Browser::open(&sig.page("cam", "staying", 12));
    let plays = |viewer: &str| {
        sig.report(viewer, Duration::from_secs(40), |r| {
            r["frames"].as_u64().unwrap_or(0) > 30
        })
    };
    assert!(
        plays("leaving").is_some(),
        "the leaving browser never played"
    );
    let before = plays("staying").expect("the staying browser never played");
    drop(leaving); // killed: no goodbye
    let report = sig
        .report("staying", Duration::from_secs(60), |r| r["final"] == true)
        .expect("no final report from the staying browser");
    drop(staying);
    let (at_kill, at_end) = (
        before["frames"].as_u64().unwrap_or(0),
        report["frames"].as_u64().unwrap_or(0),
    );
    assert!(
        at_end >= at_kill + 60,
        "the staying browser showed {at_kill} frames when the other left, {at_end} at the end"
    );
    // A newcomer is served as well.
    let _late = Browser::open(&sig.page("cam", "late", 3));
    let late = sig
        .report("late", Duration::from_secs(60), |r| r["final"] == true)
        .expect("no final report from the late browser");
    assert!(late["frames"].as_u64().unwrap_or(0) >= 45, "{late}");
    // What the sender's bus said meanwhile (nobody read it since it registered).
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(
        run.sequence().last().copied(),
        Some("connected"),
        "{:?}",
        run.states
    );
}

#[test]
fn webrtcsrc_reads_the_metadata_in_order() {
    if in_loopback_netns("webrtcsrc_reads_the_metadata_in_order") {
        metadata_in_order("shared");
    }
}

#[test]
fn webrtcsrc_reads_the_metadata_of_the_per_viewer_encode() {
    if in_loopback_netns("webrtcsrc_reads_the_metadata_of_the_per_viewer_encode") {
        metadata_in_order("per-viewer");
    }
}

/// webrtcsrc receives; tdmetaextract, after the depayloader, reads every frame's metadata back: frame
/// numbers consecutive (IDR frames included), the channel equal to what was sent for that frame.
fn metadata_in_order(encode: &str) {
    let sig = Signalling::start();
    let mut run = registered(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         tdmetainject name=inj ! nvencstreamsink name=s mode=webrtc url={} ice-addresses=127.0.0.1 \
         keyframe-interval=30 webrtc-encode={encode}",
        sig.ws
    ));
    // Channel "n" changes with every frame; what each frame carried as it left tdmetainject is recorded.
    let inj = run.pipeline.by_name("inj").expect("inj");
    let sent: Arc<Mutex<std::collections::HashMap<u64, f64>>> = Arc::default();
    let s2 = Arc::clone(&sent);
    inj.static_pad("src")
        .expect("pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(Some(Ok(d))) = info.buffer().map(|b| frame_meta::read(b)) {
                if let (Some(n), Some(v)) = (d.frame, d.channel("n")) {
                    s2.lock().unwrap().insert(n, v[0]);
                }
            }
            gst::PadProbeReturn::Ok
        });
    let counter = Arc::new(AtomicU64::new(0));
    let weak = inj.downgrade();
    let c = Arc::clone(&counter);
    inj.static_pad("sink")
        .expect("pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            if let Some(inj) = weak.upgrade() {
                let channels = gst::Structure::builder("c")
                    .field("n", n as f64 * 0.25)
                    .build();
                inj.set_property("channels", channels);
            }
            gst::PadProbeReturn::Ok
        });

    let rx = gst::Pipeline::new();
    let src = viewer(&rx, &sig.ws);
    let got: Arc<Mutex<Vec<(u64, f64)>>> = Arc::default();
    let g = Arc::clone(&got);
    // Downstream takes RTP, so webrtcsrc hands RTP over (no decoding of its own): the video goes through
    // depayloader, parser, tdmetaextract and decoder; the metadata is read off the decoded frames.
    receive_pads(
        &rx,
        &src,
        "rtph264depay ! h264parse ! tdmetaextract ! avdec_h264 ! fakesink name=out sync=false",
        move |b| {
            if let Some(Ok(d)) = frame_meta::read(b) {
                if let (Some(n), Some(v)) = (d.frame, d.channel("n")) {
                    g.lock().unwrap().push((n, v[0]));
                }
            }
        },
    );
    rx.set_state(gst::State::Playing).expect("receiver playing");
    let enough = wait_for(Duration::from_secs(40), || got.lock().unwrap().len() >= 120);
    let _ = rx.set_state(gst::State::Null);
    let frames = got.lock().unwrap().clone();
    assert!(enough, "{} frames with metadata", frames.len());
    for w in frames.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0 + 1,
            "frames out of order or missing: {frames:?}"
        );
    }
    let sent = sent.lock().unwrap().clone();
    for (n, v) in &frames {
        assert_eq!(sent.get(n), Some(v), "frame {n}: received {v}");
    }
    // The bin counts its input in both encode paths (it stayed 0 with per-viewer encoding).
    let stats = run
        .pipeline
        .by_name("s")
        .expect("s")
        .property::<gst::Structure>("stats");
    let frames_in = stats.get::<u64>("frames-in").unwrap_or(0);
    assert!(frames_in >= 120, "frames-in {frames_in}: {stats}");
    // What the sender's bus said meanwhile (nobody read it since it registered).
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

/// mode=whip publishes to whipserversrc (gst-plugins-rs' WHIP server) with a bearer token; the server
/// decodes pictures whole (whipserversrc hands RTP on when downstream takes it: depayloaded, parsed and
/// decoded here, so what is counted is pictures, not packets). The token never appears on the sender's
/// bus.
#[test]
fn whip_publishes_to_a_whip_server() {
    if !in_loopback_netns("whip_publishes_to_a_whip_server") {
        return;
    }
    init_webrtc();
    gsttdstream::transport::webrtc::ensure_elements();
    let port = free_port();
    let (server, frames) = whip_server(port);

    let mut run = Run::start(&sender(&format!(
        "mode=whip url=http://127.0.0.1:{port}/whip/endpoint bearer-token=tok-SECRET-42"
    )));
    let ok = wait_for(Duration::from_secs(40), || {
        frames.load(Ordering::SeqCst) >= 60
    });
    // The connection message was posted while the pictures came (or never): read up to it.
    run.until(Duration::from_secs(5), |r| r.count("connected") >= 1);
    let _ = server.set_state(gst::State::Null);
    assert!(
        ok,
        "{} pictures decoded by the WHIP server",
        frames.load(Ordering::SeqCst)
    );
    assert!(run.count("connected") >= 1, "{:?}", run.states);
    let everything = format!("{:?} {:?} {:?}", run.states, run.warnings, run.errors);
    assert!(!everything.contains("tok-SECRET-42"), "{everything}");
}

/// No signalling server at url: the sender keeps running and retries per reconnect-interval, posting
/// each state; when the server appears, it registers.
#[test]
fn no_signalling_server_is_retried_until_one_appears() {
    init_webrtc();
    let port = free_port();
    let mut run = Run::start(&sender(&format!(
        "mode=webrtc url=ws://127.0.0.1:{port} reconnect-interval=0.2 reconnect-max-interval=0.5"
    )));
    assert!(
        run.until_state("reconnecting", 2, Duration::from_secs(20)),
        "{:?} {:?}",
        run.states,
        run.errors
    );
    let (_, reason) = run
        .states
        .iter()
        .find(|(s, _)| s == "reconnecting")
        .cloned()
        .unwrap_or_default();
    assert!(
        reason.contains("Signalling error") && reason.contains("Connection refused"),
        "{reason}"
    );
    // What the sender's bus said meanwhile (nobody read it since it registered).
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let _sig = Signalling::start_on(port);
    assert!(
        run.until_state("connected", 1, Duration::from_secs(20)),
        "{:?}",
        run.states
    );
}

/// Settings browsers cannot play fail at start, naming the property and the fix.
#[test]
fn combinations_browsers_cannot_play_fail_at_start() {
    init_webrtc();
    for (props, expected) in [
        (
            "max-bframes=2",
            "max-bframes=2 cannot be played by browsers over WebRTC",
        ),
        ("video-codec=h265", "Fix: set video-codec=h264"),
        ("audio-codec=aac", "Fix: set audio-codec=opus"),
        ("stun-server=stun.example.com", "Fix: use stun://host:port"),
    ] {
        let launch = format!(
            "videotestsrc num-buffers=30 ! nvencstreamsink mode=webrtc url=ws://127.0.0.1:9 {props} \
             audiotestsrc num-buffers=30 ! s.audio"
        )
        .replace("nvencstreamsink ", "nvencstreamsink name=s ");
        let log = run_launch(&launch, Duration::from_secs(20));
        assert!(log.text().contains(expected), "{props}: {}", log.text());
    }
}

/// A viewer that cannot decode H.264 (Chromium told to take VP8 only, as a browser without H.264 would):
/// a warning says why and what to do; the stream goes on, and a browser that can plays it.
#[test]
fn a_viewer_without_h264_gets_a_clear_warning() {
    if !in_loopback_netns("a_viewer_without_h264_gets_a_clear_warning") {
        return;
    }
    let sig = Signalling::start();
    let mut run = registered(&sender(&format!(
        "mode=webrtc url={} stream-name=cam",
        sig.ws
    )));
    let vp8_only = Browser::open(&format!("{}&codecs=VP8", sig.page("cam", "vp8", 30)));
    let warned = run.until(Duration::from_secs(30), |r| {
        r.warnings.iter().any(|w| w.contains("cannot take H.264"))
    });
    assert!(warned, "{:?} {:?}", run.warnings, run.errors);
    let w = run
        .warnings
        .iter()
        .find(|w| w.contains("cannot take H.264"))
        .cloned()
        .unwrap_or_default();
    assert!(
        w.starts_with("mode=webrtc to ws://127.0.0.1:") && w.contains("Fix: use a browser"),
        "{w}"
    );
    drop(vp8_only);

    let _browser = Browser::open(&sig.page("cam", "h264", 3));
    let report = sig
        .report("h264", Duration::from_secs(60), |r| r["final"] == true)
        .expect("no final report from the browser");
    assert!(report["frames"].as_u64().unwrap_or(0) >= 45, "{report}");
    // What the sender's bus said meanwhile (nobody read it since it registered).
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

/// mode=whip against an endpoint that is not GStreamer (tests/peers/whip_dtls_refuser.py: it answers
/// the offer, then leaves the connectivity checks unanswered, so the peer connection fails after the
/// endpoint answered). It used to end the stream with a plain EOS (exit 0, nothing sent, nothing said);
/// it is an error that says what failed (reconnect-attempts=0: the failure itself, not retried). This one
/// has ICE fail; the retry tests below refuse the DTLS handshake.
#[test]
fn whip_session_that_fails_after_the_answer_is_an_error_not_an_eos() {
    if !in_loopback_netns("whip_session_that_fails_after_the_answer_is_an_error_not_an_eos") {
        return;
    }
    init_webrtc();
    let port = free_port();
    let dir = tmpdir("whip-refuser");
    let out = dir.join("endpoint.log");
    let _endpoint = Peer::spawn(
        "whip_dtls_refuser.py",
        std::process::Command::new("/usr/bin/python3")
            .arg(shared_reference().join("whip_dtls_refuser.py"))
            .args([&port.to_string(), "60", "ice"])
            .stdout(std::fs::File::create(&out).expect("log file"))
            .stderr(std::process::Stdio::null()),
    );
    assert!(
        wait_tcp(port, Duration::from_secs(10)),
        "endpoint did not start"
    );
    let log = run_launch(
        &sender(&format!(
            "destinations=\"http://127.0.0.1:{port}/whip/endpoint#bearer-token=TOKEN-whip-77\" \
             reconnect-attempts=0"
        )),
        Duration::from_secs(30),
    );
    let seen = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        seen.contains("POST") && seen.contains("STUN-IGNORED"),
        "the endpoint did not answer or was not checked: {seen}"
    );
    // The token from the URL's fragment went to the endpoint, as the Authorization header.
    assert!(seen.contains("Bearer TOKEN-whip-77"), "{seen}");
    assert!(
        !log.eos,
        "the stream ended with a plain EOS: {}",
        log.text()
    );
    let e = log.errors.join("\n");
    assert!(
        e.contains("destination 1 (whip) to http://127.0.0.1:")
            && e.contains("the WHIP session failed after the endpoint answered")
            && e.contains("ICE or the DTLS handshake failed"),
        "{}",
        log.text()
    );
    assert!(!log.text().contains("TOKEN-whip-77"), "{}", log.text());
}

/// Rounds of each WHIP retry test. Ten in a row passed 6 times here (60 rounds each); one run beside the
/// whole suite lost its process without a word in round 3 of the always-failing test (FINDINGS): three
/// rounds in the suite until that is understood.
const ROUNDS: u32 = 3;

/// The endpoint script (tests/peers/whip_dtls_refuser.py) on a free port, refusing the DTLS handshake
/// of its first `refuse_first` sessions (all with None) and passing later ones to `upstream`.
fn dtls_refuser(tag: &str, refuse_first: Option<(u32, String)>) -> (Peer, u16, std::path::PathBuf) {
    let port = free_port();
    let out = tmpdir(tag).join("endpoint.log");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.arg(shared_reference().join("whip_dtls_refuser.py"))
        .args([&port.to_string(), "120", "dtls"]);
    if let Some((n, upstream)) = refuse_first {
        cmd.args([n.to_string(), upstream]);
    }
    cmd.stdout(std::fs::File::create(&out).expect("log file"))
        .stderr(std::process::Stdio::null());
    let peer = Peer::spawn("whip_dtls_refuser.py", &mut cmd);
    assert!(
        wait_tcp(port, Duration::from_secs(10)),
        "endpoint did not start"
    );
    (peer, port, out)
}

/// Lines of the endpoint's log that start with `word`.
fn said(log: &std::path::Path, word: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(word))
        .count()
}

/// A WHIP endpoint that refuses the DTLS handshake of the first three sessions, then works (the fourth
/// offer goes to a whipserversrc, which decodes): the sender retries each failed session per the
/// reconnection policy and the stream arrives, with no error on the bus. With gst-plugins-rs 0.15.4
/// the second failed session used to abort the process (the WHIP signaller's DELETE blocked on its own
/// tokio runtime: transport/webrtc/session_end.rs); an abort ends this test binary. ROUNDS times in a row.
#[test]
fn whip_sessions_that_fail_are_retried_until_the_endpoint_accepts() {
    if !in_loopback_netns("whip_sessions_that_fail_are_retried_until_the_endpoint_accepts") {
        return;
    }
    init_webrtc();
    gsttdstream::transport::webrtc::ensure_elements();
    for round in 1..=ROUNDS {
        let up = free_port();
        let (server, frames) = whip_server(up);
        let (_endpoint, port, log) = dtls_refuser(
            "whip-retry",
            Some((3, format!("http://127.0.0.1:{up}/whip/endpoint"))),
        );
        let mut run = Run::start(&sender(&format!(
            "destinations=\"http://127.0.0.1:{port}/whip/endpoint\" reconnect-interval=0.1 \
             reconnect-max-interval=0.2"
        )));
        let ok = wait_for(Duration::from_secs(60), || {
            frames.load(Ordering::SeqCst) >= 15
        });
        run.until(Duration::from_secs(5), |r| r.count("connected") >= 1);
        run.drain();
        let _ = server.set_state(gst::State::Null);
        let seen = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            ok,
            "round {round}: {} pictures decoded behind the endpoint; endpoint: {seen}; states {:?} errors {:?}",
            frames.load(Ordering::SeqCst),
            run.states,
            run.errors
        );
        // Three sessions refused (each ended by an alert), then one passed on.
        assert_eq!(said(&log, "POST"), 4, "round {round}: {seen}");
        assert_eq!(said(&log, "FORWARDED"), 1, "round {round}: {seen}");
        assert!(said(&log, "ALERT") >= 3, "round {round}: {seen}");
        assert!(
            run.count("reconnecting") >= 3 && run.count("connected") >= 1,
            "round {round}: {:?}",
            run.states
        );
        assert!(run.errors.is_empty(), "round {round}: {:?}", run.errors);
    }
}

/// A WHIP endpoint that refuses every session's DTLS handshake: with reconnect-attempts=3, four
/// sessions (the first and three attempts), then one clear error naming the DTLS failure; the process
/// goes on. ROUNDS times in a row.
#[test]
fn whip_endpoint_that_always_fails_is_retried_as_configured_then_one_error() {
    if !in_loopback_netns("whip_endpoint_that_always_fails_is_retried_as_configured_then_one_error")
    {
        return;
    }
    init_webrtc();
    for round in 1..=ROUNDS {
        let (_endpoint, port, log) = dtls_refuser("whip-always", None);
        let bus = run_launch(
            &sender(&format!(
                "destinations=\"http://127.0.0.1:{port}/whip/endpoint\" reconnect-interval=0.1 \
                 reconnect-max-interval=0.2 reconnect-attempts=3"
            )),
            Duration::from_secs(60),
        );
        let seen = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(
            said(&log, "POST"),
            4,
            "round {round}: {seen} {}",
            bus.text()
        );
        assert_eq!(bus.errors.len(), 1, "round {round}: {}", bus.text());
        let e = &bus.errors[0];
        assert!(
            e.contains("destination 1 (whip) to http://127.0.0.1:")
                && e.contains("gave up after 3 reconnection attempts")
                && e.contains("the WHIP session failed after the endpoint answered")
                && e.contains("DTLS handshake failed"),
            "round {round}: {e}"
        );
    }
}

/// The sender as users run it (gst-launch-1.0, which handles LATENCY messages) sends each picture when
/// it is encoded. webrtcsink's `clocksync` per input held every picture for its running time plus the
/// pipeline's latency: 37 ms at 30 fps (webrtcsrc reading tdmetaextract's latency, 3 ms without), so
/// at 5 fps 200 ms and more. A benchmark with the sender in its own process never saw it (issue #29).
#[test]
fn a_live_sender_run_by_gst_launch_sends_pictures_as_they_are_encoded() {
    if !in_loopback_netns("a_live_sender_run_by_gst_launch_sends_pictures_as_they_are_encoded") {
        return;
    }
    let sig = Signalling::start();
    let (_sender, output) = gst_launch(
        "sender",
        &format!(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=5/1 ! tdmetainject ! \
             nvencstreamsink mode=webrtc url={} stream-name=asap ice-addresses=127.0.0.1 \
             include-silent-audio=off keyframe-interval=5 avg-bitrate=0.5",
            sig.ws
        ),
    );
    let said = || std::fs::read_to_string(&output).unwrap_or_default();
    // webrtcsrc connects to the first producer the signalling server lists: the sender may register
    // after the reader asked, so the reader tries again until pictures come (bounded).
    let launch = format!(
        "tdwebrtcsupport webrtcsrc name=w connect-to-first-producer=true signaller::uri={} ! \
         rtph264depay ! h264parse ! tdmetaextract emit-frame-messages=true ! fakesink sync=false async=false",
        sig.ws
    );
    let frames = poll(Duration::from_secs(40), || {
        let reader = pipeline(&launch);
        let w = reader.by_name("w").expect("webrtcsrc");
        w.set_property("stun-server", None::<String>);
        common::webrtc::ice_on_loopback(&w);
        tdmeta_frames_of(&reader, 25, Duration::from_secs(10))
            .ok()
            .filter(|f| f.len() >= 20)
    })
    .unwrap_or_else(|| panic!("the reader got no pictures; sender: {}", said()));
    assert_sent_as_encoded_at_5_fps(&frames);
}

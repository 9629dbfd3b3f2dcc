//! Bad input gets an error that names the property and the fix, and secrets never appear.

mod common;

use common::*;
use std::time::Duration;

/// Starts a short pipeline with `props` and returns the first error text.
fn first_error(props: &str) -> String {
    init();
    let log = run_launch(&sender(props, 160, 120, 2), Duration::from_secs(20));
    log.errors
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("expected an error for {props}: {}", log.text()))
}

#[test]
fn unknown_url_scheme_names_url_and_fix() {
    // The README's own example text: the URL shown as far as it parses, its last segment (the stream
    // key) redacted.
    let e = first_error("mode=rtmp url=http://live.example.com/app/SECRET-KEY-77");
    assert!(
        e.contains(
            "url 'http://live.example.com/app/<redacted>' does not start with rtmp:// or rtmps://"
        ),
        "{e}"
    );
    assert!(e.contains("Fix:"), "{e}");
    assert!(!e.contains("SECRET-KEY-77"), "{e}");
}

#[test]
fn malformed_srt_url_names_the_problem() {
    let e = first_error("mode=srt url=srt://127.0.0.1?mode=caller");
    assert!(e.contains("url") && e.contains("no port"), "{e}");
    let e = first_error("mode=srt url=\"srt://127.0.0.1:9?mode=caller&bogus=1\"");
    assert!(
        e.contains("unknown SRT option 'bogus'") && e.contains("latency"),
        "{e}"
    );
}

#[test]
fn empty_url_gives_an_example() {
    let e = first_error("mode=rtmp");
    assert!(e.contains("url is empty") && e.contains("rtmp://"), "{e}");
}

#[test]
fn codec_the_protocol_cannot_carry() {
    // (H.265 and AV1 over RTMP work since Enhanced RTMP: tests/eflv.rs.)
    let e = first_error("mode=srt url=srt://127.0.0.1:9 video-codec=av1");
    assert!(e.contains("video-codec=av1") && e.contains("1.26"), "{e}");
    let e = first_error("mode=rtmp url=rtmp://127.0.0.1/live/k audio-codec=opus");
    assert!(
        e.contains("audio-codec=opus") && e.contains("audio-codec=aac"),
        "{e}"
    );
}

#[test]
fn encoder_nvenc_without_nvenc_is_a_clear_error() {
    let e = first_error("mode=srt url=srt://127.0.0.1:9 encoder=nvenc");
    assert!(
        e.contains("encoder=nvenc") && e.contains("encoder=auto") && e.contains("nvh264enc"),
        "{e}"
    );
}

#[test]
fn forced_encoder_that_does_not_exist_or_mismatches() {
    let e = first_error("mode=srt url=srt://127.0.0.1:9 encoder-name=nosuchenc");
    assert!(
        e.contains("encoder-name=nosuchenc") && e.contains("gst-inspect-1.0"),
        "{e}"
    );
    let e = first_error("mode=srt url=srt://127.0.0.1:9 encoder-name=x265enc video-codec=h264");
    assert!(
        e.contains("encoder-name=x265enc") && e.contains("video/x-h265"),
        "{e}"
    );
}

#[test]
fn profile_the_codec_does_not_have() {
    let e = first_error("mode=srt url=srt://127.0.0.1:9 video-codec=h265 profile=baseline");
    assert!(
        e.contains("profile=baseline") && e.contains("h265") && e.contains("profile=main"),
        "{e}"
    );
}

#[test]
fn negative_and_absurd_bitrates() {
    // The README's example, word for word.
    let fix = "Fix: set avg-bitrate between 0.01 and 2000 (Mbit/s), e.g. avg-bitrate=4";
    let e = first_error("mode=srt url=srt://127.0.0.1:9 avg-bitrate=-5");
    assert!(
        e.contains(&format!("avg-bitrate=-5 is out of range. {fix}")),
        "{e}"
    );
    let e = first_error("mode=srt url=srt://127.0.0.1:9 avg-bitrate=100000");
    assert!(
        e.contains(&format!("avg-bitrate=100000 is out of range. {fix}")),
        "{e}"
    );
    let e = first_error("mode=srt url=srt://127.0.0.1:9 max-bitrate=-1");
    assert!(e.contains("max-bitrate=-1"), "{e}");
}

/// An SRT listener whose port another program holds: the error names the address and the fix
/// (srtsink itself says "Could not open resource for writing.").
#[test]
fn srt_listener_port_taken_names_the_port_and_fix() {
    let port = free_port();
    let _held = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("hold the port");
    let e = first_error(&format!(
        "mode=srt url=srt://127.0.0.1:{port}?mode=listener"
    ));
    assert!(
        e.contains(&format!(
            "mode=srt to srt://127.0.0.1:{port}?mode=listener: "
        )) && e.contains(&format!("127.0.0.1:{port} is taken by another program"))
            && e.contains("Fix: use another port in url"),
        "{e}"
    );
}

#[test]
fn webrtc_without_a_url_gives_an_example() {
    let e = first_error("mode=webrtc");
    assert!(
        e.contains("url is empty") && e.contains("ws://127.0.0.1:8443"),
        "{e}"
    );
    let e = first_error("mode=whip url=ws://127.0.0.1:8443");
    assert!(e.contains("http:// or https://"), "{e}");
}

/// Built without the `webrtc` feature (and no system webrtcsink): the error says how to get it.
#[cfg(not(feature = "webrtc"))]
#[test]
fn webrtc_without_the_feature_names_the_fix() {
    init();
    use gst::prelude::*;
    if let Some(f) = gst::ElementFactory::find("webrtcsink") {
        panic!(
            "this test needs a GStreamer without webrtcsink, but a system copy of gst-plugins-rs' webrtc \
             plugin is installed ({}), and it serves mode=webrtc: run it where that plugin is not \
             installed (Debian 12 does not package it)",
            f.plugin().and_then(|p| p.filename()).map(|f| f.display().to_string()).unwrap_or_default()
        );
    }
    let e = first_error("mode=webrtc url=ws://127.0.0.1:9");
    assert!(
        e.contains("'webrtcsink' is missing")
            && e.contains("libgsttdstreamwebrtc.so")
            && e.contains("./run build"),
        "{e}"
    );
}

#[test]
fn encoder_warnings_name_the_encoder() {
    init();
    let port = free_port();
    let log = run_launch(
        &sender(
            &format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener encoder-name=x264enc intra-refresh-period=30 intra-refresh-length=10"),
            160,
            120,
            1,
        ),
        Duration::from_secs(20),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    assert!(
        log.warnings
            .iter()
            .any(|w| w.contains("intra-refresh-length: x264enc")),
        "{}",
        log.text()
    );
}

#[test]
fn stream_key_never_appears_in_errors_messages_or_logs() {
    init();
    let logs = capture_our_log_lines();
    let secret = "live_1234567_SECRETKEYabcdef";
    let password = "hunter2-password";
    // Nothing listens on port 9: connection refused, retried once (a warning), then an error.
    let log = run_launch(
        &sender(
            &format!("mode=rtmp url=rtmp://user:{password}@127.0.0.1:9/app/{secret} rtmp-password=other-pass-123 \
                      reconnect-attempts=1 reconnect-interval=0.1"),
            160,
            120,
            3,
        ),
        Duration::from_secs(20),
    );
    let text = log.text();
    assert!(!log.errors.is_empty(), "{text}");
    let e = &log.errors[0];
    assert!(
        e.contains("rtmp://user:<redacted>@127.0.0.1:9/app/<redacted>"),
        "{e}"
    );
    assert!(e.contains("Fix: check that the server"), "{e}");
    assert!(
        e.contains("gave up after 1 reconnection attempt over"),
        "{e}"
    );
    assert!(
        log.warnings.iter().any(|w| w.contains("reconnecting in")),
        "{text}"
    );
    let all_logs = logs.lock().unwrap().join("\n");
    for s in [secret, password, "other-pass-123"] {
        assert!(!text.contains(s), "{s} in bus messages: {text}");
        assert!(!all_logs.contains(s), "{s} in debug log: {all_logs}");
    }
    assert!(
        all_logs.contains("starting mode"),
        "the log was captured: {all_logs}"
    );
}

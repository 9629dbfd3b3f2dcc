//! A missing GStreamer plugin is named with its Debian package. The element is removed from this test
//! process's registry, exactly as if its plugin were not installed.

mod common;

use common::*;
use std::time::Duration;

fn hide(factory: &str) {
    let registry = gst::Registry::get();
    if let Some(f) = registry.lookup_feature(factory) {
        registry.remove_feature(&f);
    }
    assert!(gst::ElementFactory::find(factory).is_none());
}

#[test]
fn missing_muxer_and_encoder_name_their_packages() {
    init();
    hide("flvmux");
    let log = run_launch(
        &sender("mode=rtmp url=rtmp://127.0.0.1:9/live/k", 160, 120, 1),
        Duration::from_secs(20),
    );
    let e = log.errors.first().cloned().unwrap_or_default();
    assert!(e.contains("'flvmux' is missing"), "{}", log.text());
    assert!(
        e.contains("apt-get install gstreamer1.0-plugins-good"),
        "{e}"
    );
    assert!(e.contains("mode=rtmp"), "{e}");

    hide("x265enc");
    let log = run_launch(
        &sender(
            "mode=srt url=srt://127.0.0.1:9 video-codec=h265",
            160,
            120,
            1,
        ),
        Duration::from_secs(20),
    );
    let e = log.errors.first().cloned().unwrap_or_default();
    assert!(
        e.contains("'x265enc' is missing") && e.contains("gstreamer1.0-plugins-bad"),
        "{}",
        log.text()
    );
}

#[test]
fn av1_over_rtmp_without_an_av1_parser_says_so() {
    init();
    hide("av1parse");
    let log = run_launch(
        &sender(
            "mode=rtmp url=rtmp://127.0.0.1:9/live/k video-codec=av1",
            160,
            120,
            1,
        ),
        Duration::from_secs(20),
    );
    let e = log.errors.first().cloned().unwrap_or_default();
    assert!(
        e.contains("'av1parse' is missing")
            && e.contains("apt-get install gstreamer1.0-plugins-bad")
            && !e.contains("/live/k"),
        "{}",
        log.text()
    );
}

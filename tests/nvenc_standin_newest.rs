//! The NVENC path end to end with the TEST-ONLY stand-in registered under the newest GStreamer's NVENC
//! element names and property schema (nvh264enc/nvh265enc/nvav1enc of 1.26+, p1…p7 presets, tune).

mod common;

use common::standin::assert_exact_schema;
use common::*;
use gst::prelude::*;
use std::time::Duration;

const SECTION: &str = "newest";

fn setup() {
    init();
    tdnvencstandin::register(SECTION).expect("stand-in registered");
}

#[test]
fn standin_has_exactly_the_newest_schema() {
    setup();
    assert_exact_schema(SECTION);
}

#[test]
fn new_nvh264enc_is_preferred_and_gets_p_presets_and_tune() {
    setup();
    let port = free_port();
    let launch = sender(
        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener encoder=nvenc quality=lowlatencylow bitrate-mode=cbrhq"),
        320,
        240,
        3,
    );
    let pipeline = gst::parse::launch(&launch)
        .expect("parse")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = pipeline
        .by_name("s")
        .expect("s")
        .downcast::<gst::Bin>()
        .expect("bin");
    let log = run_pipeline(&pipeline, Duration::from_secs(20), |_| false);
    let enc = sink.by_name("encoder").expect("encoder");
    let _ = pipeline.set_state(gst::State::Null);
    assert!(log.errors.is_empty(), "{}", log.text());
    assert!(log.eos, "{}", log.text());
    assert_eq!(enc.factory().unwrap().name(), "nvh264enc");
    assert_eq!(enc.property_value("preset").serialize().unwrap(), "p1");
    assert_eq!(
        enc.property_value("tune").serialize().unwrap(),
        "ultra-low-latency"
    );
    assert_eq!(enc.property_value("rc-mode").serialize().unwrap(), "cbr");
    assert_eq!(
        enc.property_value("multi-pass").serialize().unwrap(),
        "two-pass-quarter"
    );
    assert!(enc.property::<bool>("repeat-sequence-header"));
}

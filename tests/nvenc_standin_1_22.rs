//! The NVENC path end to end with the TEST-ONLY stand-in registered under GStreamer 1.22's NVENC element
//! names and property schema (legacy nvh264enc/nvh265enc, nvcuda*, nvautogpu*).

mod common;

use common::standin::{assert_exact_schema, set_failure};
use common::*;
use gst::prelude::*;
use std::time::Duration;

const SECTION: &str = "1.22.0";

fn setup() {
    init();
    tdnvencstandin::register(SECTION).expect("stand-in registered");
}

#[test]
fn standin_has_exactly_the_1_22_schema() {
    setup();
    assert_exact_schema(SECTION);
}

/// Streams over SRT and reads back with ffprobe; returns (bus log, stats, probe, encoder properties).
fn stream_with(props: &str) -> (BusLog, gst::Structure, serde_json::Value, gst::Element) {
    let port = free_port();
    let launch = sender(
        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=listener {props}"),
        320,
        240,
        4,
    );
    let pipeline = gst::parse::launch(&launch)
        .expect("parse")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = pipeline.by_name("s").expect("s");
    let url = format!("srt://127.0.0.1:{port}?mode=caller");
    let reader = std::thread::spawn(move || {
        ffprobe_until(
            &[
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_streams",
                &url,
            ],
            1,
            Duration::from_secs(12),
            Duration::from_secs(10),
        )
        .unwrap_or_default()
    });
    let mut stats = None;
    let log = run_pipeline(&pipeline, Duration::from_secs(25), |_| {
        stats = Some(sink.property::<gst::Structure>("stats"));
        false
    });
    let encoder = sink
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("encoder"));
    let _ = pipeline.set_state(gst::State::Null);
    let probe = if log.errors.is_empty() {
        reader.join().unwrap_or_default()
    } else {
        Default::default()
    };
    (
        log,
        stats.expect("stats read"),
        probe,
        encoder.expect("encoder child"),
    )
}

#[test]
fn nvenc_policy_prefers_nvautogpu_over_the_legacy_element_and_configures_it() {
    setup();
    let _g = serial();
    set_failure(None);
    let (log, stats, probe, enc) =
        stream_with("encoder=nvenc profile=high keyframe-interval=20 avg-bitrate=1.5 bitrate-mode=vbr max-bitrate=3");
    assert!(log.errors.is_empty(), "{}", log.text());
    assert_eq!(
        stats.get::<String>("encoder").unwrap(),
        "nvautogpuh264enc",
        "{stats}"
    );
    assert!(stats.get::<bool>("is-nvenc").unwrap());
    assert!(stats.get::<u64>("frames-encoded").unwrap() > 60, "{stats}");
    assert_eq!(enc.property::<u32>("bitrate"), 1500);
    assert_eq!(enc.property::<u32>("max-bitrate"), 3000);
    assert_eq!(enc.property::<i32>("gop-size"), 20);
    assert_eq!(
        enc.property_value("rate-control").serialize().unwrap(),
        "vbr"
    );
    assert_eq!(
        enc.property_value("preset").serialize().unwrap(),
        "low-latency-hq"
    );
    assert!(enc.property::<bool>("zero-reorder-delay"));
    let st = &probe["streams"][0];
    assert_eq!(st["codec_name"], "h264", "{probe}");
    assert_eq!(st["profile"], "High", "{probe}");
}

#[test]
fn h265_goes_through_the_nvenc_h265_element() {
    setup();
    let _g = serial();
    set_failure(None);
    let (log, stats, probe, enc) =
        stream_with("encoder=nvenc video-codec=h265 intra-refresh-period=30");
    assert!(log.errors.is_empty(), "{}", log.text());
    assert_eq!(stats.get::<String>("encoder").unwrap(), "nvautogpuh265enc");
    assert_eq!(enc.factory().unwrap().name(), "nvautogpuh265enc");
    assert!(
        log.warnings.iter().any(|w| w.contains(
            "intra-refresh-period/intra-refresh-length: nvautogpuh265enc has no intra-refresh"
        )),
        "{}",
        log.text()
    );
    assert_eq!(probe["streams"][0]["codec_name"], "hevc", "{probe}");
}

#[test]
fn auto_falls_back_to_software_when_no_cuda_device_opens() {
    setup();
    let _g = serial();
    set_failure(Some("no-device"));
    let (log, stats, _probe, _) = stream_with("encoder=auto");
    set_failure(None);
    assert!(log.errors.is_empty(), "{}", log.text());
    assert_eq!(stats.get::<String>("encoder").unwrap(), "x264enc");
    assert!(!stats.get::<bool>("is-nvenc").unwrap());
    let w = log
        .warnings
        .iter()
        .find(|w| w.contains("NVENC not used"))
        .expect("fallback warning");
    assert!(
        w.contains("encoding with x264enc in software") && w.contains("Failed to open CUDA device"),
        "{w}"
    );
}

#[test]
fn auto_falls_back_when_encode_sessions_are_exhausted_and_nvenc_policy_fails() {
    setup();
    let _g = serial();
    set_failure(Some("sessions"));
    let (log, stats, _probe, _) = stream_with("encoder=auto");
    assert!(log.errors.is_empty(), "{}", log.text());
    assert_eq!(stats.get::<String>("encoder").unwrap(), "x264enc");
    assert!(
        log.warnings
            .iter()
            .any(|w| w.contains("NV_ENC_ERR_OUT_OF_MEMORY")),
        "{}",
        log.text()
    );

    let log = run_launch(
        &sender("mode=srt url=srt://127.0.0.1:9 encoder=nvenc", 160, 120, 1),
        Duration::from_secs(20),
    );
    set_failure(None);
    let e = log.errors.first().cloned().unwrap_or_default();
    assert!(
        e.contains("encoder=nvenc but NVENC cannot be used")
            && e.contains("NV_ENC_ERR_OUT_OF_MEMORY"),
        "{}",
        log.text()
    );
}

#[test]
fn encoder_name_forces_the_legacy_element() {
    setup();
    let _g = serial();
    set_failure(None);
    let (log, stats, probe, enc) =
        stream_with("encoder-name=nvh264enc max-bframes=2 profile=main quality=highlatencyhigh");
    assert!(log.errors.is_empty(), "{}", log.text());
    assert_eq!(stats.get::<String>("encoder").unwrap(), "nvh264enc");
    assert_eq!(enc.property::<u32>("bframes"), 2);
    assert_eq!(enc.property_value("rc-mode").serialize().unwrap(), "cbr");
    assert_eq!(enc.property_value("preset").serialize().unwrap(), "hq");
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
}

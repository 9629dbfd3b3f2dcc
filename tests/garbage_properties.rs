//! Every writable property of every tdstream element set to garbage in NULL, READY and PLAYING: as a
//! gst-launch string (the parser's error or the value), then the element started. Nothing panics, the
//! process stays up, and every error the bus shows says what to fix.

mod common;

use common::*;
use gst::prelude::*;
use std::time::Duration;

fn garbage() -> Vec<String> {
    let mut g: Vec<String> = [
        "",
        "-1",
        "0",
        "4294967296",
        "-99999999999999999999",
        "1e308",
        "-1e308",
        "nan",
        "inf",
        "abc",
        "no-such-nick",
        "true",
        "srt://",
        "rtmp://",
        "gopher://example/x",
        "rtmp://h:99999/app/key",
        "srt://:0?mode=listener&passphrase=short",
        "srt://127.0.0.1:1?latency=-5&mode=boss",
        "bad%00nul",
        "a,b;c",
        "s, a=(int)x",
        "<1,2>",
        "/nonexistent/dir/file.csv",
        "\u{1}\u{2}\u{7f}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    g.push("x".repeat(10_000));
    g.push(format!("rtmp://127.0.0.1/{}", "k".repeat(10_000)));
    g
}

/// A pipeline that feeds `factory` what it takes; the element is named `e`.
fn pipeline_for(factory: &str) -> gst::Pipeline {
    let launch = match factory {
        "nvencstreamsink" => format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! nvencstreamsink name=e \
             mode=rtsp-server port={}",
            free_port()
        ),
        "rtspsharedserver" => format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! x264enc tune=zerolatency ! \
             h264parse ! rtspsharedserver name=e port={}",
            free_port()
        ),
        "tdmetainject" => "videotestsrc is-live=true ! tdmetainject name=e ! fakesink".to_string(),
        other => format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! x264enc tune=zerolatency ! h264parse ! \
             {other} name=e ! fakesink"
        ),
    };
    gst::parse::launch(&launch)
        .expect("launch")
        .downcast::<gst::Pipeline>()
        .expect("pipeline")
}

/// What the bus says within `within`: the errors, as (source path, text).
fn errors_within(pipeline: &gst::Pipeline, within: Duration) -> Vec<(String, String)> {
    let bus = pipeline.bus().expect("bus");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + within;
    while let Some(msg) = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(
            deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_nanos() as u64,
        ),
        &[gst::MessageType::Error],
    ) {
        if let gst::MessageView::Error(e) = msg.view() {
            let src = msg
                .src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_default();
            out.push((src, e.error().to_string()));
        }
    }
    out
}

fn assault(factory: &str, state: gst::State) {
    let pipeline = pipeline_for(factory);
    let element = pipeline.by_name("e").expect("e");
    let _ = pipeline.set_state(state);
    let _ = pipeline.state(gst::ClockTime::from_seconds(5));
    let props: Vec<gst::glib::ParamSpec> = element
        .list_properties()
        .iter()
        .filter(|p| p.flags().contains(gst::glib::ParamFlags::WRITABLE))
        .filter(|p| !p.flags().contains(gst::glib::ParamFlags::CONSTRUCT_ONLY))
        .filter(|p| p.owner_type() == element.type_())
        .cloned()
        .collect();
    // tdmetaembed has only read-only statistics.
    assert!(
        !props.is_empty() || factory == "tdmetaembed",
        "{factory}: no properties found"
    );
    for pspec in &props {
        for g in garbage() {
            // What gst-launch-1.0 would do with `name=value`: parse, and set only what parses.
            // GStreamer's own structure parser asserts (a CRITICAL, in the test, not the element) on
            // names that do not start with a letter: give structures only what gst-launch would parse.
            let structure = pspec.value_type() == gst::Structure::static_type();
            if structure && !g.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            // GLib refuses (with a warning) what is out of the ParamSpec's range, as for gst-launch-1.0.
            if let Ok(v) = gst::glib::Value::deserialize_with_pspec(&g, pspec) {
                if pspec.value_is_valid(&v) {
                    element.set_property_from_value(pspec.name(), &v);
                }
            }
        }
        // Leave each property with its last garbage value that parsed.
    }
    // Started with all that garbage: either it runs, or it says what to fix.
    let _ = pipeline.set_state(gst::State::Playing);
    let errors = errors_within(&pipeline, Duration::from_secs(1));
    let ours = |src: &str| src.contains("/e") || src.ends_with(":e");
    for (src, e) in &errors {
        if !ours(src) {
            // Upstream stops when our element refuses data; ours must have said why first.
            assert!(
                errors.iter().any(|(s, _)| ours(s)),
                "{factory} ({state:?}): only an error from {src}: {e}"
            );
            continue;
        }
        assert!(
            e.contains("Fix") || props.iter().any(|p| e.contains(p.name())),
            "{factory} ({state:?}): an error from {src} that names neither a property nor a fix: {e}"
        );
        assert!(
            e.len() < 4000,
            "{factory} ({state:?}): error text of {} bytes (echoes the garbage) from {src}: {}…",
            e.len(),
            e.chars().take(300).collect::<String>()
        );
    }
    let _ = pipeline.set_state(gst::State::Null);
}

#[test]
fn garbage_in_every_property_at_every_state() {
    init();
    for factory in [
        "nvencstreamsink",
        "rtspsharedserver",
        "tdmetainject",
        "tdmetaembed",
        "tdmetaextract",
        "tdeflvmux",
    ] {
        for state in [gst::State::Null, gst::State::Ready, gst::State::Playing] {
            assault(factory, state);
        }
    }
}

#[test]
fn garbage_on_the_launch_line_is_a_parse_error_not_a_crash() {
    init();
    for factory in ["nvencstreamsink", "rtspsharedserver", "tdmetainject"] {
        for (prop, value) in [
            ("port", "abc"),
            ("mode", "teleport"),
            ("avg-bitrate", "fast"),
            ("active", "maybe"),
            ("channels", "not a structure ("),
        ] {
            let launch = format!("fakesrc ! {factory} {prop}=\"{value}\"");
            // Either the property does not exist on this element or the value does not parse: an
            // error that names the property, never a pipeline with the value quietly dropped.
            let has = gst::ElementFactory::make(factory)
                .build()
                .expect("element")
                .find_property(prop)
                .is_some();
            let expected = if has {
                format!("could not set property \"{prop}\"")
            } else {
                format!("no property \"{prop}\"")
            };
            match gst::parse::launch(&launch) {
                Err(e) => assert!(
                    e.to_string().contains(&expected),
                    "{launch}: {e} (wanted: {expected})"
                ),
                Ok(p) => {
                    let _ = p.set_state(gst::State::Null);
                    panic!("{launch} was accepted");
                }
            }
        }
    }
}

/// One wrong value at a time on nvencstreamsink: the error names the property that holds it (and says
/// how to fix it), not just some property of the element.
#[test]
fn each_wrong_value_is_an_error_naming_its_own_property() {
    init();
    let long_encoder_name = format!(
        "mode=rtsp-server port={} encoder-name={}",
        free_port(),
        "x".repeat(10_000)
    );
    for (props, names) in [
        ("mode=rtmp url=gopher://example/x", &["url", "rtmp://"][..]),
        (
            long_encoder_name.as_str(),
            &["encoder-name", "(10000 characters)"][..],
        ),
        ("destinations=gopher://example/x", &["destinations"][..]),
        (
            "mode=rtmp url=rtmp://h:99999/app/key",
            &["url", "99999"][..],
        ),
        (
            "mode=srt url=\"srt://127.0.0.1:9?mode=listener&passphrase=short\"",
            &["passphrase"][..],
        ),
        (
            "mode=srt url=\"srt://127.0.0.1:9?mode=boss\"",
            &["mode=boss", "mode=listener"][..],
        ),
    ] {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! nvencstreamsink name=e {props}"
        ))
        .expect("launch")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
        let _ = pipeline.set_state(gst::State::Playing);
        let errors = errors_within(&pipeline, Duration::from_secs(2));
        let _ = pipeline.set_state(gst::State::Null);
        let e = errors
            .iter()
            .find(|(src, _)| src.ends_with("/e") || src.ends_with(":e"))
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| panic!("{props}: no error from nvencstreamsink: {errors:?}"));
        for name in names {
            assert!(
                e.contains(name),
                "{props}: the error does not say '{name}': {e}"
            );
        }
        assert!(
            e.contains("Fix") || e.contains("use "),
            "{props}: no fix: {e}"
        );
        assert!(!e.contains("app/key"), "{props}: the stream key shown: {e}");
        assert!(
            e.len() < 4000,
            "{}…: error text of {} bytes (echoes the value)",
            props.chars().take(80).collect::<String>(),
            e.len()
        );
    }
}

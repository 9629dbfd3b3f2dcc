//! mode=rtmp against a real nginx-rtmp on 127.0.0.1, read back with ffprobe; publish authentication
//! through nginx's on_publish callback.

mod common;

use common::nginx::nginx;
use common::*;
use gst::prelude::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Each ffprobe run at most 25 s, retried for up to 15 s.
const PLAYER_TIMES: (Duration, Duration) = (Duration::from_secs(25), Duration::from_secs(15));

/// What ffprobe reads through nginx-rtmp (3 s of stream time) from a 6 s 320x240 sender with
/// `props` publishing to the stream `name`; the sender must end without an error.
fn relayed(name: &str, props: &str) -> serde_json::Value {
    let ng = nginx(None);
    let url = format!("rtmp://127.0.0.1:{}/live/{name}", ng.port);
    let player = rtmp_player(url.clone(), 3, 1, PLAYER_TIMES);
    let log = run_launch(
        &sender(&format!("mode=rtmp url={url} {props}"), 320, 240, 6),
        Duration::from_secs(30),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    player.join().expect("player")
}

#[test]
fn nginx_relays_h264_main_with_silent_aac() {
    init();
    let probe = relayed("cam1", "profile=main keyframe-interval=15");
    let v = probed(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{probe}");
    assert_eq!(v["profile"], "Main", "{probe}");
    assert_eq!(v["width"], 320);
    assert!(frames_read(v) >= 60, "{probe}");
    let a = probed(&probe, "audio");
    assert_eq!(a["codec_name"], "aac", "{probe}");
}

#[test]
fn nginx_relays_h264_high_with_mp3_from_the_audio_pad() {
    init();
    let ng = nginx(None);
    let url = format!("rtmp://127.0.0.1:{}/live/cam2", ng.port);
    let player = rtmp_player(url.clone(), 3, 1, PLAYER_TIMES);
    let launch =
        format!(
        "{} audio-codec=mp3 audio-bitrate=96 audiotestsrc is-live=true num-buffers=260 ! s.audio",
        sender(&format!("mode=rtmp url={url} profile=high keyframe-interval=15"), 320, 240, 6)
    );
    let log = run_launch(&launch, Duration::from_secs(30));
    assert!(log.errors.is_empty(), "{}", log.text());
    let probe = player.join().expect("player");
    let v = probed(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{probe}");
    assert_eq!(v["profile"], "High", "{probe}");
    assert!(frames_read(v) >= 60, "{probe}");
    let a = probed(&probe, "audio");
    assert_eq!(a["codec_name"], "mp3", "{probe}");
    assert!(frames_read(a) > 0, "{probe}");
}

/// `profile=baseline` end to end: what ffprobe reports on the player's side of nginx-rtmp (x264's
/// baseline is the constrained one: no B-frames, no CABAC).
#[test]
fn nginx_relays_h264_constrained_baseline() {
    init();
    let probe = relayed(
        "baseline",
        "profile=baseline include-silent-audio=off keyframe-interval=15",
    );
    let v = probed(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{probe}");
    assert_eq!(v["profile"], "Constrained Baseline", "{probe}");
    assert_eq!(v["has_b_frames"], 0, "{probe}");
    assert!(frames_read(v) >= 60, "{probe}");
}

/// `include-silent-audio=off`: with no audio pad linked the stream has no audio track at all (by
/// default it carries silent AAC: `nginx_relays_h264_main_with_silent_aac`).
#[test]
fn without_silent_audio_the_stream_is_video_only() {
    init();
    let probe = relayed("videoonly", "include-silent-audio=off keyframe-interval=15");
    let v = probed(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{probe}");
    assert!(frames_read(v) >= 60, "{probe}");
    assert!(probed(&probe, "audio").is_null(), "{probe}");
}

fn auth_server(key: &str) -> (Peer, u16) {
    let port = free_port();
    let script = shared_reference().join("auth_server.py");
    let peer = Peer::spawn(
        "auth_server.py",
        Command::new("/usr/bin/python3")
            .arg(script)
            .args([&port.to_string(), key, "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(
        wait_tcp(port, Duration::from_secs(10)),
        "auth server did not start"
    );
    (peer, port)
}

#[test]
fn publish_auth_accepts_the_right_key() {
    init();
    let key = "right-key-0001";
    let (_auth, auth_port) = auth_server(key);
    let ng = nginx(Some(auth_port));
    let url = format!("rtmp://127.0.0.1:{}/live/cam?key={key}", ng.port);
    let player = rtmp_player(
        format!("rtmp://127.0.0.1:{}/live/cam", ng.port),
        3,
        1,
        PLAYER_TIMES,
    );
    let log = run_launch(
        &sender(
            &format!("mode=rtmp url=\"{url}\" keyframe-interval=15"),
            320,
            240,
            5,
        ),
        Duration::from_secs(30),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    let probe = player.join().expect("player");
    assert!(frames_read(probed(&probe, "video")) >= 45, "{probe}");
}

#[test]
fn publish_auth_refuses_a_wrong_key_clearly_and_never_shows_it() {
    init();
    let (_auth, auth_port) = auth_server("right-key-0002");
    let ng = nginx(Some(auth_port));
    let wrong = "wrong-key-9999";
    let url = format!("rtmp://127.0.0.1:{}/live/cam?key={wrong}", ng.port);
    let log = run_launch(
        &sender(&format!("mode=rtmp url=\"{url}\""), 160, 120, 10),
        Duration::from_secs(30),
    );
    let text = log.text();
    assert!(!log.errors.is_empty(), "expected an error: {text}");
    let err = &log.errors[0];
    assert!(err.contains("mode=rtmp to rtmp://127.0.0.1"), "{err}");
    assert!(err.contains("<redacted>"), "{err}");
    assert!(err.contains("Fix:"), "{err}");
    assert!(!text.contains(wrong), "stream key leaked: {text}");
    // Final at once (reconnect-attempts is -1 by default): no retry storm against the server.
    assert!(err.contains("not retried"), "{err}");
    assert!(
        !text.contains("state=(TdStreamConnectionState)reconnecting"),
        "retried: {text}"
    );
}

#[test]
fn rtmps_to_a_certificate_nobody_trusts_is_final_at_once_and_tls_validation_flags_reaches_it() {
    init();
    let ng = common::nginx::nginx_tls();
    let tls = ng.tls_port.expect("TLS port");
    let url = format!("rtmps://127.0.0.1:{tls}/live/tls-KEY-1");
    // Validation on (the default): one attempt, a final error that names the certificate and the fix.
    let started = std::time::Instant::now();
    let log = run_launch(
        &sender(
            &format!("mode=rtmp url={url} reconnect-attempts=-1"),
            320,
            240,
            30,
        ),
        Duration::from_secs(20),
    );
    let e = log.errors.join("\n");
    assert!(
        e.contains("rtmps://127.0.0.1:")
            && e.contains("/live/<redacted>")
            && e.contains("Unacceptable TLS certificate")
            && e.contains("not retried")
            && e.contains("tls-validation-flags=0"),
        "{}",
        log.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not final at once"
    );
    assert!(!log.text().contains("reconnecting in"), "{}", log.text());
    // tls-validation-flags=0: published through TLS, read back in plain RTMP from nginx-rtmp.
    let player = rtmp_player(
        format!("rtmp://127.0.0.1:{}/live/tls-KEY-1", ng.port),
        3,
        1,
        PLAYER_TIMES,
    );
    let log = run_launch(
        &sender(
            &format!("mode=rtmp url={url} tls-validation-flags=0 keyframe-interval=15"),
            320,
            240,
            6,
        ),
        Duration::from_secs(30),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    assert!(
        log.warnings
            .iter()
            .any(|w| w
                .contains(": tls-validation-flags=0: the TLS certificate of rtmps://127.0.0.1:")),
        "{:?}",
        log.warnings
    );
    let probe = player.join().expect("player");
    let v = probed(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{probe}");
    assert!(frames_read(v) >= 60, "{probe}");
    assert!(!log.text().contains("tls-KEY-1"), "{}", log.text());
}

#[test]
fn service_keys_with_their_own_query_reach_the_server_whole() {
    init();
    // A Facebook-style key: the name, then a query of its own, here with the `key` that nginx's
    // on_publish check (the auth server) must receive intact for the publish to be accepted.
    let secret = "AbXyZsecret-77";
    let (_auth, auth_port) = auth_server(secret);
    let ng = nginx(Some(auth_port));
    let key = format!("FB-1234-0-AbCd?s_bl=1&s_psm=1&s_sc=1&key={secret}&s_vt=api-s&a=Zz9q");
    let player = rtmp_player(
        format!("rtmp://127.0.0.1:{}/live/FB-1234-0-AbCd", ng.port),
        3,
        1,
        PLAYER_TIMES,
    );
    let log = run_launch(
        &sender(
            &format!(
                "mode=rtmp url=\"rtmp://127.0.0.1:{}/live/{key}\" keyframe-interval=15",
                ng.port
            ),
            320,
            240,
            6,
        ),
        Duration::from_secs(30),
    );
    assert!(log.errors.is_empty(), "{}", log.text());
    let probe = player.join().expect("player");
    assert!(frames_read(probed(&probe, "video")) >= 60, "{probe}");
    for s in ["FB-1234", secret, "s_bl=1", "Zz9q"] {
        assert!(!log.text().contains(s), "{s}: {}", log.text());
    }
}

/// nvencstreamsink publishes in 4096-byte RTMP chunks: rtmp2sink's default, RTMP's 128, made each 720p
/// picture ~5 ms later through nginx-rtmp (benches/latency.rs, BENCHMARKS.md). Read from the chunk size
/// rtmp2sink reports once nginx-rtmp has accepted the stream (0 before it connects).
#[test]
fn publishes_in_4096_byte_chunks() {
    init();
    let ng = nginx(None);
    let url = format!("rtmp://127.0.0.1:{}/live/chunks", ng.port);
    let mut run = live::Run::start(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         nvencstreamsink name=s include-silent-audio=off mode=rtmp url={url}"
    ));
    assert!(
        run.until_state("connected", 1, Duration::from_secs(20)),
        "{:?} {:?}",
        run.states,
        run.errors
    );
    let bin = run.sink().downcast::<gst::Bin>().expect("a bin");
    let chunk_size = poll(Duration::from_secs(5), || {
        let rtmp2sink = bin
            .iterate_recurse()
            .into_iter()
            .flatten()
            .find(|e| e.factory().is_some_and(|f| f.name() == "rtmp2sink"))?;
        let stats = rtmp2sink.property::<gst::Structure>("stats");
        let size = stats.get::<u32>("out-chunk-size").ok()?;
        (size != 0).then_some(size)
    });
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(chunk_size, Some(4096));
}

/// The sender as users run it (gst-launch-1.0, which handles LATENCY messages: the pipeline's latency
/// becomes the live source's frame plus the encoder's) publishes each picture when it is encoded.
/// rtmp2sink (sync=true) held every picture for its running time plus that latency, like srtsink did
/// (issue #29: 53.6 ms at 30 fps); at 5 fps that wait is 200 ms and more (220 ms median measured with
/// it, 1–12 ms without). Reader: `rtmp2src ! flvdemux` with a queue and an `async=false` sink on each
/// pad, so a join between keyframes (audio first) cannot stall it; no h264parse (it holds a picture).
#[test]
fn a_live_sender_run_by_gst_launch_publishes_pictures_as_they_are_encoded() {
    init();
    let ng = nginx(None);
    let url = format!("rtmp://127.0.0.1:{}/live/asap", ng.port);
    let (_sender, output) = gst_launch(
        "sender",
        &format!(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=5/1 ! tdmetainject ! \
             nvencstreamsink mode=rtmp keyframe-interval=5 avg-bitrate=0.5 url={url}"
        ),
    );
    let said = || std::fs::read_to_string(&output).unwrap_or_default();
    // nginx-rtmp keeps a player of a stream nobody publishes yet waiting: the reader may start first.
    let frames = tdmeta_frames(
        &format!(
            "rtmp2src location={url} ! flvdemux name=d d.video ! queue ! \
             tdmetaextract emit-frame-messages=true ! fakesink sync=false async=false \
             d.audio ! queue ! fakesink sync=false async=false"
        ),
        25,
        Duration::from_secs(25),
    )
    .unwrap_or_else(|e| panic!("receiver: {e}; sender: {}", said()));
    assert!(
        frames.len() >= 20,
        "{} frames; sender: {}",
        frames.len(),
        said()
    );
    assert_sent_as_encoded_at_5_fps(&frames);
}

/// `rtmp-tcp-nodelay` (on by default) reaches the socket rtmp2sink connected with, and `false` leaves
/// the system's default: read back from this process's connection to nginx-rtmp once it is up. (What
/// it changes on a link where Nagle's algorithm matters is measured by tools/measure-tcp-nodelay.sh:
/// p95 43-44 ms instead of 71-90, docs/FINDINGS.md.)
#[test]
fn rtmp_tcp_nodelay_is_set_on_the_connection_to_the_server() {
    init();
    let ng = nginx(None);
    let server: std::net::SocketAddr = ([127, 0, 0, 1], ng.port).into();
    for (prop, expected) in [("", true), ("rtmp-tcp-nodelay=false", false)] {
        let mut run = live::Run::start(&format!(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! \
             nvencstreamsink name=s mode=rtmp url=rtmp://127.0.0.1:{}/live/nodelay{expected} {prop}",
            ng.port
        ));
        assert!(
            run.until_state("connected", 1, Duration::from_secs(20)),
            "{:?} {:?}",
            run.states,
            run.errors
        );
        let states = gsttdstream::transport::rtmp::nodelay::state_of_connections_to(&[server]);
        run.drain();
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        assert_eq!(states, vec![expected], "TCP_NODELAY with '{prop}'");
        let _ = run.pipeline.set_state(gst::State::Null);
    }
}

/// The connection test of nanocosmos' writer: the `test-connection` action signal, on an element that
/// never streams (NULL), answers for each destination.
fn connection_test(url: &str) -> gst::Structure {
    let sink = gst::ElementFactory::make("nvencstreamsink")
        .property_from_str("mode", "rtmp")
        .property("url", url)
        .build()
        .expect("nvencstreamsink");
    let answer = sink.emit_by_name::<gst::Structure>("test-connection", &[]);
    assert_eq!(answer.name(), "nvencstreamsink-connection-test");
    answer
}

fn tested(answer: &gst::Structure) -> (String, String) {
    let lines = answer
        .get::<gst::Array>("destinations")
        .expect("destinations");
    let first = lines
        .first()
        .and_then(|v| v.get::<gst::Structure>().ok())
        .expect("one destination");
    (
        first.get::<String>("result").unwrap_or_default(),
        first.get::<String>("reason").unwrap_or_default(),
    )
}

#[test]
fn the_connection_test_passes_the_right_key_and_names_the_wrong_one_without_showing_it() {
    init();
    let right = "right-key-0003";
    let (_auth, auth_port) = auth_server(right);
    let ng = nginx(Some(auth_port));
    let base = format!("rtmp://127.0.0.1:{}/live/cam?key=", ng.port);

    let answer = connection_test(&format!("{base}{right}"));
    assert_eq!(tested(&answer), ("ok".into(), String::new()), "{answer}");
    assert!(answer.get::<bool>("ok").unwrap(), "{answer}");

    let wrong = "wrong-key-8888";
    let answer = connection_test(&format!("{base}{wrong}"));
    let (result, reason) = tested(&answer);
    assert_eq!(result, "failed", "{answer}");
    assert!(!answer.get::<bool>("ok").unwrap(), "{answer}");
    assert!(
        reason.contains("Fix: the server refused to accept the stream: check the stream key"),
        "{reason}"
    );
    assert!(!answer.to_string().contains(wrong), "{answer}");

    // Nobody listening: the sink's words and the network hint.
    let answer = connection_test(&format!("rtmp://127.0.0.1:{}/live/cam", free_port()));
    let (result, reason) = tested(&answer);
    assert_eq!(result, "failed", "{answer}");
    assert!(
        reason.contains("Fix: check that the server or listener at url is running and reachable"),
        "{reason}"
    );
}

/// One recorded FLV's tags as far as the timecode goes: each picture's timestamp and the timecode of
/// the script tag on its timestamp since the picture before (None where there is none, or it has no
/// `timecode` entry). nginx-rtmp may put the codec headers between an update and its picture.
fn timecodes_before_pictures(flv: &[u8]) -> Vec<(u32, Option<String>)> {
    use gsttdstream::flv::{amf0, tag, video};
    let mut out = Vec::new();
    let mut script: Option<(u32, Option<String>)> = None;
    for t in tag::tags(flv) {
        if t.kind == 18 {
            let tc = amf0::read_on_metadata(t.body).and_then(|entries| {
                entries
                    .into_iter()
                    .find_map(|(k, v)| match (k.as_str(), v) {
                        ("timecode", amf0::Value::String(tc)) => Some(tc),
                        _ => None,
                    })
            });
            script = Some((t.timestamp_ms, tc));
        } else if t.kind == 9 && matches!(video::read(t.body), video::Body::Picture { .. }) {
            let before = script
                .take()
                .filter(|(ts, _)| *ts == t.timestamp_ms)
                .and_then(|(_, tc)| tc);
            out.push((t.timestamp_ms, before));
        }
    }
    out
}

/// What an RTMP player of `url` receives from now on, as an FLV file (rtmp2src's output as it is), once
/// it holds `pictures` pictures (bounded by 30 s).
fn record(url: &str, pictures: usize) -> (std::path::PathBuf, Vec<u8>) {
    let path = tmpdir("rtmp-record").join("recorded.flv");
    let p = pipeline(&format!(
        "rtmp2src location={url} ! filesink location={}",
        path.display()
    ));
    let log = run_pipeline(&p, Duration::from_secs(30), |_| {
        let bytes = std::fs::read(&path).unwrap_or_default();
        timecodes_before_pictures(&bytes).len() >= pictures
    });
    let _ = p.set_state(gst::State::Null);
    assert!(log.errors.is_empty(), "recorder: {}", log.text());
    let bytes = std::fs::read(&path).unwrap_or_default();
    (path, bytes)
}

/// nanocosmos' "timecode in RTMP metadata" (`rtmp-timecode-interval`, default every picture): behind
/// `timecodestamper ! tdmetainject`, each picture reaches an RTMP player through nginx-rtmp (`meta
/// copy`) right after an onMetaData update on its timestamp whose `timecode` is the picture's own, as
/// tdmetaextract reads it from the picture's SEI in the recorded FLV; FFmpeg reads it from the
/// recording as the `timecode` metadata key.
#[test]
fn each_pictures_timecode_reaches_a_recorded_flv_as_onmetadata_through_nginx() {
    init();
    let ng = common::nginx::nginx_meta_copy();
    let url = format!("rtmp://127.0.0.1:{}/live/timecode", ng.port);
    let (_sender, output) = gst_launch(
        "sender",
        &format!(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! \
             timecodestamper ! tdmetainject ! nvencstreamsink mode=rtmp keyframe-interval=25 \
             avg-bitrate=0.5 url={url}"
        ),
    );
    let (path, flv) = record(&url, 60);
    let sent = timecodes_before_pictures(&flv);
    assert!(
        sent.len() >= 60,
        "{} pictures recorded; sender: {}",
        sent.len(),
        std::fs::read_to_string(&output).unwrap_or_default()
    );
    // The pictures' own timecodes (from their SEI), by presentation time.
    let reader = pipeline(&format!(
        "filesrc location={} ! flvdemux name=d d.video ! queue ! tdmetaextract emit-frame-messages=true ! \
         fakesink sync=false async=false d.audio ! queue ! fakesink sync=false async=false",
        path.display()
    ));
    let log = run_pipeline(&reader, Duration::from_secs(20), |_| false);
    let _ = reader.set_state(gst::State::Null);
    assert!(log.eos && log.errors.is_empty(), "{}", log.text());
    let own: std::collections::HashMap<u64, String> = log
        .all
        .iter()
        .filter_map(|m| m.strip_prefix("ELEMENT "))
        .filter_map(|s| s.parse::<gst::Structure>().ok())
        .filter(|s| s.name() == "tdmetaextract-frame")
        .filter_map(|s| {
            let pts = s.get::<u64>("pts").ok()? / 1_000_000;
            Some((pts, s.get::<String>("timecode").ok()?))
        })
        .collect();
    assert!(
        own.len() >= 60,
        "{} pictures with a timecode in their SEI",
        own.len()
    );
    for (ts, tc) in &sent {
        assert_eq!(
            tc.as_ref(),
            own.get(&u64::from(*ts)),
            "the update before the picture at {ts} ms"
        );
    }
    let probe = ffprobe(
        &[
            "-show_entries",
            "format_tags=timecode",
            path.to_str().expect("path"),
        ],
        Duration::from_secs(20),
    );
    let first = probe["format"]["tags"]["timecode"].as_str().unwrap_or("");
    assert!(
        own.values().any(|tc| tc == first),
        "ffprobe's timecode '{first}' is none of the pictures' ({probe})"
    );
}

/// Without a timecode in the source the updates carry one derived from each picture's timestamp at the
/// stream's rate (here 25 fps: frame = ms / 40), without a warning; `rtmp-timecode-interval=0` sends
/// none.
#[test]
fn without_a_source_timecode_it_is_derived_and_interval_0_sends_none() {
    init();
    let ng = common::nginx::nginx_meta_copy();
    for (name, prop) in [("derived", ""), ("off", "rtmp-timecode-interval=0")] {
        let url = format!("rtmp://127.0.0.1:{}/live/{name}", ng.port);
        let (sender, output) = gst_launch(
            "sender",
            &format!(
                "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! \
                 nvencstreamsink mode=rtmp keyframe-interval=25 avg-bitrate=0.5 url={url} {prop}"
            ),
        );
        let (_, flv) = record(&url, 30);
        drop(sender);
        let said = std::fs::read_to_string(&output).unwrap_or_default();
        let sent = timecodes_before_pictures(&flv);
        assert!(
            sent.len() >= 30,
            "{name}: {} pictures; sender: {said}",
            sent.len()
        );
        assert!(
            !said
                .lines()
                .any(|l| l.contains("WARN") && l.contains("timecode")),
            "{name}: {said}"
        );
        for (ts, tc) in &sent {
            let expected = (name == "derived").then(|| {
                let frame = (f64::from(*ts) / 40.0).round() as u32;
                let s = frame / 25;
                format!(
                    "{:02}:{:02}:{:02}:{:02}",
                    s / 3600,
                    s / 60 % 60,
                    s % 60,
                    frame % 25
                )
            });
            assert_eq!(tc, &expected, "{name}: picture at {ts} ms");
        }
    }
}

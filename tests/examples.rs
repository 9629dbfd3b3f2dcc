//! What the README and `pipelines/` tell users to run, run as written: each launch script in
//! `pipelines/` (as `sh pipelines/NAME.sh ARGS`, gst-launch-1.0 with the plugins this build made on
//! GST_PLUGIN_PATH) with a real reader on the far side checking codec, profile, size and pictures; the
//! README's Python bus handler, pasted from the README into a GStreamer application in
//! /usr/bin/python3; and the README's first command, `./run demo`, read as it says. With the webrtc
//! feature, `pipelines/webrtc.sh` (read by webrtcsrc through its own signalling server) and `whip.sh`
//! (to whipserversrc), in loopback-only network namespaces. Not here: the README's second command,
//! `./run test`, which is CI.

mod common;

use common::ffmpeg7;
use common::nginx::nginx;
use common::*;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const PROBE_TIMES: (Duration, Duration) = (Duration::from_secs(25), Duration::from_secs(30));

/// `sh pipelines/NAME.sh ARGS` in the background with the plugins on GST_PLUGIN_PATH and a registry of
/// its own; its output goes to files (returned for failure messages); killed by pid when dropped.
fn script(name: &str, args: &[&str]) -> (Peer, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    spawn_with_built_plugins(
        name,
        &format!("script-{name}"),
        Command::new("sh")
            .arg(root.join("pipelines").join(format!("{name}.sh")))
            .args(args)
            .current_dir(root),
    )
}

fn output(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// ffprobe decoding 3 s of stream time from `url` (retried while the sender comes up).
fn probe(url: String, streams: usize) -> serde_json::Value {
    rtmp_player(url, 3, streams, PROBE_TIMES)
        .join()
        .expect("ffprobe")
}

/// The video stream of `probe`: its codec, profile and size as ffprobe reports them, and at least 60
/// of the 90 pictures of 3 s decoded.
fn assert_video(
    probe: &serde_json::Value,
    codec: &str,
    profile: &str,
    size: (u64, u64),
    log: &Path,
) {
    let v = probed(probe, "video");
    let context = || format!("{probe}\nscript: {}", output(log));
    assert_eq!(v["codec_name"], codec, "{}", context());
    assert_eq!(v["profile"], profile, "{}", context());
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(size.0), Some(size.1)),
        "{}",
        context()
    );
    assert!(frames_read(v) >= 60, "{}", context());
}

#[test]
fn rtmp_sh_publishes_h264_high_and_aac_that_nginx_relays() {
    let ng = nginx(None);
    let (_sender, log) = script(
        "rtmp",
        &[&format!("rtmp://127.0.0.1:{}/live/STREAM-KEY", ng.port)],
    );
    let p = probe(format!("rtmp://127.0.0.1:{}/live/STREAM-KEY", ng.port), 2);
    assert_video(&p, "h264", "High", (1280, 720), &log);
    assert_eq!(probed(&p, "audio")["codec_name"], "aac", "{p}");
}

#[test]
fn rtmp_h265_sh_publishes_enhanced_rtmp_h265_that_ffmpeg_7_decodes() {
    let dir = tmpdir("rtmp-h265-sh");
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/STREAM-KEY");
    // FFmpeg 7 as the server (Debian's FFmpeg 5.1 cannot read Enhanced RTMP), 3 s of input.
    let reader = ffmpeg7::start(&["-listen", "1", "-t", "3", "-i", &url], &dir, None);
    assert!(
        wait_listening(port, Duration::from_secs(10)),
        "FFmpeg 7 did not listen"
    );
    let (_sender, log) = script("rtmp-h265", &[&url]);
    let r = ffmpeg7::finish(reader, &dir, Duration::from_secs(40));
    let context = || format!("{}\nscript: {}", r.log, output(&log));
    assert_eq!(r.codec, "hevc", "{}", context());
    assert_eq!(r.profile, "Main", "{}", context());
    assert_eq!((r.width, r.height), (1280, 720), "{}", context());
    assert_eq!(r.audio.as_deref(), Some("aac"), "{}", context());
    assert!(r.frames >= 60, "{} frames: {}", r.frames, context());
}

#[test]
fn srt_listener_sh_is_read_by_a_caller() {
    let port = free_port();
    let (_sender, log) = script("srt-listener", &[&port.to_string()]);
    assert!(
        wait_udp_bound(port, Duration::from_secs(20)),
        "the listener did not bind {port}: {}",
        output(&log)
    );
    let p = probe(
        format!("srt://127.0.0.1:{port}?mode=caller&latency=120000"),
        1,
    );
    // The script sets no profile: nvencstreamsink's default, main.
    assert_video(&p, "h264", "Main", (1280, 720), &log);
}

#[test]
fn srt_caller_sh_reaches_a_listener_with_its_passphrase() {
    let port = free_port();
    let passphrase = "change-me-please";
    // ffprobe is the listener; the script calls it.
    let reader = rtmp_player(
        format!("srt://127.0.0.1:{port}?mode=listener&passphrase={passphrase}&pbkeylen=16&latency=200000"),
        3,
        1,
        PROBE_TIMES,
    );
    assert!(
        wait_udp_bound(port, Duration::from_secs(10)),
        "ffprobe did not listen on {port}"
    );
    let (_sender, log) = script("srt-caller", &[&format!("127.0.0.1:{port}"), passphrase]);
    let p = reader.join().expect("ffprobe");
    assert_video(&p, "hevc", "Main", (1280, 720), &log);
}

#[test]
fn rtsp_server_sh_serves_two_named_streams_on_one_port() {
    let port = free_port();
    let (_sender, log) = script("rtsp-server", &[&port.to_string()]);
    assert!(
        wait_tcp(port, Duration::from_secs(20)),
        "no RTSP server on {port}: {}",
        output(&log)
    );
    let cam1 = probe(format!("rtsp://127.0.0.1:{port}/cam1"), 1);
    assert_video(&cam1, "h264", "Main", (1280, 720), &log);
    let cam2 = probe(format!("rtsp://127.0.0.1:{port}/cam2"), 1);
    assert_video(&cam2, "hevc", "Main", (640, 360), &log);
}

/// The README's Python bus handler (the first ```python block), as written, in an application that
/// streams over SRT: it prints the connection states and the stats.
#[test]
fn readme_python_bus_handler_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let snippet = readme
        .split("```python\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a ```python block in README.md");
    let dir = tmpdir("python-snippet");
    let port = free_port();
    let app = format!(
        r#"import gi, sys
gi.require_version("Gst", "1.0")
from gi.repository import Gst, GLib
Gst.init(None)
{snippet}
pipeline = Gst.parse_launch("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
    "nvencstreamsink mode=srt url=srt://127.0.0.1:{port}?mode=listener stats-interval=200")
loop = GLib.MainLoop()
bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
GLib.timeout_add(1500, loop.quit)
pipeline.set_state(Gst.State.PLAYING)
loop.run()
pipeline.set_state(Gst.State.NULL)
"#
    );
    std::fs::write(dir.join("app.py"), app).expect("app.py");
    let (ok, out, err) = Peer::spawn(
        "python3",
        Command::new("/usr/bin/python3")
            .arg(dir.join("app.py"))
            .env("GST_PLUGIN_PATH", plugin_dir())
            .env("GST_REGISTRY", dir.join("registry.bin"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .wait_output(Duration::from_secs(60));
    assert!(ok, "{out}\n{err}");
    // The listener waits for a caller; stats come every 200 ms with the frames counted.
    assert!(out.contains("link connecting 0"), "{out}\n{err}");
    let stats: Vec<&str> = out.lines().filter(|l| l.starts_with("encode ")).collect();
    assert!(stats.len() >= 3, "{out}\n{err}");
    assert!(
        stats.iter().all(|l| l.ends_with("ms, dropped 0")),
        "{out}\n{err}"
    );
}

/// The README's first command (`./run demo`), run as written with a port and a length of its own
/// (DEMO_PORT, DEMO_SECONDS): it builds the plugin and streams over SRT; a caller reading it as the demo
/// says (`srtsrc ! tsdemux ! tdmetaextract`) gets pictures whose metadata is the demo's: frame
/// numbers in order, the channels `sine` and `ramp` of the demo's CSV row for that frame, and its table.
/// (The `setup` step finds everything installed here; on a fresh machine it installs the packages.)
#[test]
fn readme_first_command_streams_the_demo_with_its_metadata() {
    init_webrtc();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let first = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.lines().next())
        .and_then(|l| l.split('#').next())
        .map(str::trim)
        .expect("a ```sh block in README.md");
    assert_eq!(first, "./run demo", "the README's first command changed");
    let port = free_port();
    let dir = tmpdir("demo");
    let out = std::fs::File::create(dir.join("output")).expect("output file");
    let err = out.try_clone().expect("output file");
    let _demo = Peer::spawn(
        "./run demo",
        Command::new("sh")
            .args(["-c", first])
            .current_dir(root)
            .env("DEMO_PORT", port.to_string())
            .env("DEMO_SECONDS", "30")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err)),
    );
    // The release build comes first (about a minute on 2 cores when nothing is built).
    assert!(
        wait_udp_bound(port, Duration::from_secs(200)),
        "the demo did not listen on {port}: {}",
        output(&dir.join("output"))
    );
    let reader = pipeline(&format!(
        "srtsrc uri=srt://127.0.0.1:{port}?mode=caller ! tsdemux ! h264parse ! tdmetaextract ! \
         fakesink name=out sync=false"
    ));
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    on_each_buffer(&reader, "out", "sink", move |b| {
        if let Some(Ok(d)) = gsttdstream::meta::frame_meta::read(b) {
            g.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        }
    });
    let log = run_pipeline(&reader, Duration::from_secs(20), |_| {
        got.lock().unwrap_or_else(|e| e.into_inner()).len() >= 90
    });
    let _ = reader.set_state(gst::State::Null);
    let got = got.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        got.len() >= 90,
        "{} frames with metadata: {}",
        got.len(),
        log.text()
    );
    for w in got.windows(2) {
        assert_eq!(w[1].frame, w[0].frame.map(|n| n + 1), "frames out of order");
    }
    for d in &got {
        let n = d.frame.expect("frame number") as f64;
        let sine = d.channel("sine").expect("sine")[0];
        let ramp = d.channel("ramp").expect("ramp")[0];
        assert!(
            (sine - (n / 15.0).sin()).abs() < 1e-3,
            "frame {n}: sine {sine}"
        );
        assert_eq!(ramp, n % 300.0, "frame {n}");
        assert_eq!(
            d.table,
            vec![vec!["source", "videotestsrc"], vec!["demo", "tdstream"]]
        );
        assert!(d.capture_us.is_some(), "frame {n}: no capture time");
    }
}

/// `pipelines/whip.sh ENDPOINT TOKEN` publishes to whipserversrc (gst-plugins-rs' WHIP server, in this
/// process), which decodes the pictures whole; in a loopback-only network namespace.
#[cfg(feature = "webrtc")]
#[test]
fn whip_sh_publishes_pictures_a_whip_server_decodes() {
    use common::webrtc::{wait_for, whip_server};
    use std::sync::atomic::Ordering;
    if !common::netns::in_loopback_netns("whip_sh_publishes_pictures_a_whip_server_decodes") {
        return;
    }
    init_webrtc();
    gsttdstream::transport::webrtc::ensure_elements();
    // The script sets no ice-addresses (on a real network it needs none): an address for its ICE.
    common::netns::add_an_address();
    let port = free_port();
    let (server, pictures) = whip_server(port);
    let (_sender, log) = script(
        "whip",
        &[&format!("http://127.0.0.1:{port}/whip/endpoint"), "TOKEN-1"],
    );
    let ok = wait_for(Duration::from_secs(60), || {
        pictures.load(Ordering::SeqCst) >= 60
    });
    let _ = server.set_state(gst::State::Null);
    assert!(
        ok,
        "{} pictures decoded: {}",
        pictures.load(Ordering::SeqCst),
        output(&log)
    );
}

/// `pipelines/webrtc.sh`: it starts tdstream-signalling (the one this build made) on its ports and
/// registers the stream; webrtcsrc connecting to the signalling server decodes pictures carrying the
/// script's metadata table. In a loopback-only network namespace (the script's fixed ports are free
/// there).
#[cfg(feature = "webrtc")]
#[test]
fn webrtc_sh_serves_pictures_with_metadata_through_its_signalling_server() {
    use common::webrtc::{receive_pads, wait_for};
    if !common::netns::in_loopback_netns(
        "webrtc_sh_serves_pictures_with_metadata_through_its_signalling_server",
    ) {
        return;
    }
    init_webrtc();
    gsttdstream::transport::webrtc::ensure_elements();
    common::netns::add_an_address();
    let built = std::env::current_exe()
        .expect("test binary")
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf();
    assert!(
        built.join("tdstream-signalling").exists(),
        "tdstream-signalling is not in {}: build the workspace with the webrtc feature first",
        built.display()
    );
    std::env::set_var("TDSTREAM_BIN", &built);
    let (_script, log) = script("webrtc", &[]);
    assert!(
        wait_tcp(8443, Duration::from_secs(20)),
        "no signalling server on 8443: {}",
        output(&log)
    );
    // A viewer that comes before the stream has registered waits for nothing (connect-to-first-producer
    // looks at who is there): the stream registers once gst-launch plays, so a viewer that got no
    // picture within 10 s is replaced by a new one, up to 6 times.
    let viewer = || {
        let rx = gst::Pipeline::new();
        let src = common::webrtc::viewer(&rx, "ws://127.0.0.1:8443");
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        receive_pads(
            &rx,
            &src,
            "rtph264depay ! h264parse ! tdmetaextract ! avdec_h264 output-corrupt=false ! \
             fakesink name=out sync=false",
            move |b| {
                if let Some(Ok(d)) = gsttdstream::meta::frame_meta::read(b) {
                    g.lock().unwrap_or_else(|e| e.into_inner()).push(d);
                }
            },
        );
        rx.set_state(gst::State::Playing).expect("receiver plays");
        let count = || got.lock().unwrap_or_else(|e| e.into_inner()).len();
        if wait_for(Duration::from_secs(10), || count() > 0) {
            wait_for(Duration::from_secs(30), || count() >= 60);
        }
        let _ = rx.set_state(gst::State::Null);
        let got = got.lock().unwrap_or_else(|e| e.into_inner()).clone();
        got
    };
    let got = (0..6)
        .map(|_| viewer())
        .find(|got| !got.is_empty())
        .unwrap_or_default();
    assert!(
        got.len() >= 60,
        "{} pictures with metadata: {}",
        got.len(),
        output(&log)
    );
    assert!(
        got.iter()
            .all(|d| d.table == vec![vec!["demo".to_string(), "webrtc".to_string()]]),
        "{:?}",
        got.first()
    );
}

//! Shared test helpers: plugin registration, free ports, peer processes stopped by pid, and pipelines
//! run to a bus message with a deadline (no sleeps).
#![allow(dead_code)]

pub mod bench;
pub mod ffmpeg7;
pub mod glass;
pub mod live;
pub mod netns;
pub mod nginx;
pub mod stamp;
pub mod standin;
pub mod user_sender;
#[cfg(feature = "webrtc")]
pub mod webrtc;

use gst::prelude::*;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst::init");
        gsttdstream::plugin_register_static().expect("register tdstream");
        gsttdstreamrtsp::plugin_register_static().expect("register tdstreamrtsp");
    });
}

/// [`init`], and gst-plugins-rs' WebRTC elements (tdstream's WebRTC plugin, registered statically) for
/// the tests that stream WebRTC or WHIP; without the webrtc feature, [`init`] alone. Only a test binary
/// that calls this links that plugin (~35 MB of code in every test binary when [`init`] registered it).
pub fn init_webrtc() {
    init();
    #[cfg(feature = "webrtc")]
    {
        static INIT: Once = Once::new();
        INIT.call_once(|| {
            gsttdstreamwebrtc::plugin_register_static().expect("register tdstreamwebrtc");
        });
    }
}

/// [`init_webrtc`] for a test that needs WebRTC/WHIP destinations: fails at once saying what it needs
/// where the `webrtc` feature is off and no system copy of the elements exists (instead of a bare
/// state-change error later).
pub fn require_webrtc() {
    init_webrtc();
    // tdwebrtcsupport registers the elements when nvencstreamsink first needs them; a system copy has
    // them registered already.
    let found = |e: &str| gst::ElementFactory::find(e).is_some();
    assert!(
        found("tdwebrtcsupport") || (found("webrtcsink") && found("whipclientsink")),
        "this test needs webrtcsink and whipclientsink (WebRTC/WHIP destinations): build the tests with \
         the webrtc feature, as ./run test does (cargo test --features gst-plugin-tdstream/webrtc)"
    );
}

/// A port the OS just handed out (TCP and UDP both free at the time of the call).
/// Registers the plugins and holds a process-wide lock: tests that must not overlap in one process
/// (under plain `cargo test`; nextest gives each test a process of its own) take it first. The RTSP
/// tests (one shared server per port and process), the stand-in tests (the failure mode is a process-wide
/// environment variable).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: std::sync::Mutex<()> = std::sync::Mutex::new(());
    init();
    M.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A peer process, killed (by pid) when dropped.
pub struct Peer {
    pub child: Child,
    pub name: String,
}

impl Peer {
    pub fn spawn(name: &str, cmd: &mut Command) -> Peer {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e} (run ./run setup first)"));
        Peer {
            child,
            name: name.to_string(),
        }
    }

    /// Waits for the process to end by itself, up to `timeout`; returns its output.
    pub fn wait_output(mut self, timeout: Duration) -> (bool, String, String) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::park_timeout(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    break;
                }
            }
        }
        let status = self.child.wait().map(|s| s.success()).unwrap_or(false);
        let read = |r: Option<&mut dyn std::io::Read>| {
            let mut s = String::new();
            if let Some(r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        };
        let out = read(
            self.child
                .stdout
                .as_mut()
                .map(|s| s as &mut dyn std::io::Read),
        );
        let err = read(
            self.child
                .stderr
                .as_mut()
                .map(|s| s as &mut dyn std::io::Read),
        );
        (status, out, err)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plugins this build made (the test binary is in `<target>/debug/deps`, the plugins in
/// `<target>/debug`), linked into a directory of their own to put on GST_PLUGIN_PATH: the NVENC stand-in
/// (libtdnvencstandin.so, test-only) is beside them and must not be loaded, as a user would not have it.
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let built = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf();
    let dir = tmpdir("plugins");
    for lib in [
        "libgsttdstream.so",
        "libgsttdstreamrtsp.so",
        "libgsttdstreamwebrtc.so",
    ] {
        let path = built.join(lib);
        if path.exists() {
            std::os::unix::fs::symlink(&path, dir.join(lib)).expect("symlink");
        } else {
            assert!(
                lib == "libgsttdstreamwebrtc.so",
                "{lib} is not in {}: build the workspace first (cargo build --workspace), as ./run test does",
                built.display()
            );
        }
    }
    dir
}

/// `cmd` in the background with the plugins this build made on GST_PLUGIN_PATH and a registry of its
/// own (in a directory named after `tag`); its output goes to a file (returned, for failure messages);
/// killed by pid when dropped.
pub fn spawn_with_built_plugins(name: &str, tag: &str, cmd: &mut Command) -> (Peer, PathBuf) {
    let dir = tmpdir(tag);
    let out = std::fs::File::create(dir.join("output")).expect("output file");
    let err = out.try_clone().expect("output file");
    let peer = Peer::spawn(
        name,
        cmd.env("GST_PLUGIN_PATH", plugin_dir())
            .env("GST_REGISTRY", dir.join("registry.bin"))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err)),
    );
    (peer, dir.join("output"))
}

/// `gst-launch-1.0 -e LAUNCH` as a user runs a sender: its own process and gst-launch's own bus
/// handling (LATENCY messages redistribute the pipeline's latency), through
/// [`spawn_with_built_plugins`].
pub fn gst_launch(name: &str, launch: &str) -> (Peer, PathBuf) {
    spawn_with_built_plugins(
        name,
        &format!("launch-{name}"),
        Command::new("gst-launch-1.0")
            .arg("-e")
            .args(shell_words(launch)),
    )
}

/// `launch` split as a shell splits it: on spaces, with "double quotes" kept together (no escapes).
fn shell_words(launch: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in launch.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

pub fn shared_reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tdstream-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).expect("tmpdir");
    d
}

/// Polls `f` every 50 ms until it returns Some, or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Waits until something listens on TCP 127.0.0.1:port.
pub fn wait_tcp(port: u16, timeout: Duration) -> bool {
    poll(timeout, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .is_some()
}

/// Waits for a TCP socket listening on `port` without connecting to it (for a server that takes one
/// client only, like `ffmpeg -listen 1`), from the kernel's socket table.
pub fn wait_listening(port: u16, timeout: Duration) -> bool {
    poll(timeout, || {
        (!ss(&["-tlnH", &format!("sport = :{port}")])
            .trim()
            .is_empty())
        .then_some(())
    })
    .is_some()
}

/// What `ss` (iproute2) prints for `args`: the kernel's socket table.
pub fn ss(args: &[&str]) -> String {
    let out = Command::new("ss")
        .args(args)
        .output()
        .expect("ss (iproute2; run ./run setup first)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// srt-live-transmit as an SRT listener on `port`, writing what it receives to `out` (or nowhere),
/// returned once its UDP port is taken.
pub fn srt_listener(port: u16, passphrase: Option<&str>, out: Option<&Path>) -> Peer {
    let mut uri = format!("srt://:{port}?mode=listener");
    if let Some(p) = passphrase {
        uri.push_str(&format!("&passphrase={p}"));
    }
    let stdout = match out {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("out file")),
        None => Stdio::null(),
    };
    let peer = Peer::spawn(
        "srt-live-transmit",
        Command::new("srt-live-transmit")
            .args(["-q", &uri, "file://con"])
            .stdout(stdout)
            .stderr(Stdio::null()),
    );
    assert!(
        wait_udp_bound(port, Duration::from_secs(5)),
        "srt-live-transmit did not bind {port}"
    );
    peer
}

/// Parses `launch` into a pipeline; a launch line that does not parse fails the test with its error.
pub fn pipeline(launch: &str) -> gst::Pipeline {
    gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Calls `f` on every buffer that passes the pad `pad` of the element named `element` in `pipeline`,
/// from now on.
pub fn on_each_buffer(
    pipeline: &gst::Pipeline,
    element: &str,
    pad: &str,
    f: impl Fn(&gst::BufferRef) + Send + Sync + 'static,
) {
    pipeline
        .by_name(element)
        .and_then(|e| e.static_pad(pad))
        .unwrap_or_else(|| panic!("no element {element} with a pad {pad}"))
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                f(b);
            }
            gst::PadProbeReturn::Ok
        });
}

/// How many buffers have passed the sink pad of `element` (named in `pipeline`), counted from now.
pub fn count_buffers(
    pipeline: &gst::Pipeline,
    element: &str,
) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c = count.clone();
    on_each_buffer(pipeline, element, "sink", move |_| {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    count
}

/// Waits until some process holds UDP `port` (an SRT listener is up).
pub fn wait_udp_bound(port: u16, timeout: Duration) -> bool {
    poll(timeout, || {
        std::net::UdpSocket::bind(("0.0.0.0", port)).err()
    })
    .is_some()
}

/// Everything the bus said, as text, plus how the run ended.
#[derive(Debug, Default)]
pub struct BusLog {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub all: Vec<String>,
    pub eos: bool,
}

impl BusLog {
    pub fn text(&self) -> String {
        self.all.join("\n")
    }
}

fn describe(msg: &gst::Message) -> Option<(gst::MessageType, String)> {
    let src = msg
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_default();
    match msg.view() {
        gst::MessageView::Error(e) => Some((
            gst::MessageType::Error,
            format!(
                "ERROR from {src}: {}\n  debug: {}",
                e.error(),
                e.debug().unwrap_or_default()
            ),
        )),
        gst::MessageView::Warning(w) => Some((
            gst::MessageType::Warning,
            format!(
                "WARNING from {src}: {}\n  debug: {}",
                w.error(),
                w.debug().unwrap_or_default()
            ),
        )),
        gst::MessageView::Element(e) => e
            .structure()
            .map(|s| (gst::MessageType::Element, format!("ELEMENT {s}"))),
        _ => None,
    }
}

/// Parses and plays `launch`, until EOS, an error, `until` returning true, or `timeout`.
pub fn run_launch(launch: &str, timeout: Duration) -> BusLog {
    let pipeline = gst::parse::launch(launch).unwrap_or_else(|e| panic!("parse {launch}: {e}"));
    let pipeline = pipeline.downcast::<gst::Pipeline>().expect("pipeline");
    let log = run_pipeline(&pipeline, timeout, |_| false);
    let _ = pipeline.set_state(gst::State::Null);
    log
}

pub fn run_pipeline(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    mut until: impl FnMut(&gst::Pipeline) -> bool,
) -> BusLog {
    let bus = pipeline.bus().expect("bus");
    let mut log = BusLog::default();
    let started = pipeline.set_state(gst::State::Playing);
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = left.min(Duration::from_millis(100));
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(wait.as_nanos() as u64)) {
            if let Some((t, text)) = describe(&msg) {
                log.all.push(text.clone());
                // errors/warnings hold what a user reads first: the message, not the debug text.
                let message = text.split("\n  debug:").next().unwrap_or("").to_string();
                match t {
                    gst::MessageType::Error => {
                        log.errors.push(message);
                        break;
                    }
                    gst::MessageType::Warning => log.warnings.push(message),
                    _ => {}
                }
            }
            if matches!(msg.view(), gst::MessageView::Eos(_)) {
                log.eos = true;
                break;
            }
        }
        if started.is_err() && bus.peek().is_none() {
            break;
        }
        if until(pipeline) || left.is_zero() {
            break;
        }
    }
    log
}

/// ffprobe on `url` (or a file): the JSON it prints, bounded by `timeout`.
pub fn ffprobe(args: &[&str], timeout: Duration) -> serde_json::Value {
    let mut cmd = Command::new("timeout");
    cmd.arg(format!("{}", timeout.as_secs()))
        .arg("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().expect("run ffprobe (run ./run setup first)");
    let mut v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| serde_json::json!({}));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !stderr.trim().is_empty() {
        if let Some(obj) = v.as_object_mut() {
            obj.insert("error".into(), stderr.into());
        }
    }
    v
}

/// The first stream of `kind` ("video", "audio") in what ffprobe printed (`-show_streams`), or null.
pub fn probed<'a>(probe: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    probe["streams"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["codec_type"] == kind))
        .unwrap_or(&serde_json::Value::Null)
}

/// The frames ffprobe decoded of `stream` (`-count_frames`), 0 if it did not say.
pub fn frames_read(stream: &serde_json::Value) -> u64 {
    stream["nb_read_frames"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs ffprobe again and again (each run bounded by `each`) until it reports at least `streams`
/// streams or `total` passes: for a live peer that is only just coming up.
pub fn ffprobe_until(
    args: &[&str],
    streams: usize,
    each: Duration,
    total: Duration,
) -> Option<serde_json::Value> {
    poll(total, || {
        let v = ffprobe(args, each);
        let n = v["streams"].as_array().map_or(0, |a| a.len());
        (n >= streams.max(1)).then_some(v)
    })
}

/// A live 30 fps test pattern (videotestsrc pattern=ball) of `width`x`height`, `frames` pictures long
/// (0 = endless), through `through` (a launch fragment ending in `!`, or nothing) into an
/// nvencstreamsink named `s` with `props`: the sender of every streaming test.
pub fn test_pattern_into(
    through: &str,
    props: &str,
    (width, height): (u32, u32),
    frames: u32,
) -> String {
    let length = if frames > 0 {
        format!("num-buffers={frames}")
    } else {
        String::new()
    };
    format!(
        "videotestsrc is-live=true pattern=ball {length} ! \
         video/x-raw,width={width},height={height},framerate=30/1 ! {through} \
         nvencstreamsink name=s {props}"
    )
}

/// `seconds` of a live test pattern with the time overlaid into nvencstreamsink with `props`.
pub fn sender(props: &str, width: u32, height: u32, seconds: u32) -> String {
    test_pattern_into("timeoverlay !", props, (width, height), seconds * 30)
}

/// Time from starting an H.264 `rtspsrc` client (TCP) to its first IDR picture (an access unit with a
/// NAL unit of type 5), or None within `within`: a decoder shows pictures from there on. (Decoded
/// frames would not tell: libav decoders conceal what precedes the first keyframe, and h264parse does
/// not flag the first access unit as a delta unit.)
pub fn first_idr(url: &str, within: Duration) -> Option<Duration> {
    first_idr_from(
        &format!("rtspsrc location={url} protocols=tcp latency=0 ! rtph264depay"),
        within,
    )
}

/// The same for any receiver: `src` is a launch fragment that gives H.264 (`srtsrc … ! tsdemux`).
pub fn first_idr_from(src: &str, within: Duration) -> Option<Duration> {
    let launch = format!(
        "{src} ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! \
         fakesink name=out sync=false"
    );
    let pipeline = gst::parse::launch(&launch).ok()?;
    let first = std::sync::Arc::new(std::sync::Mutex::new(None));
    let started = Instant::now();
    let f = first.clone();
    let pad = pipeline
        .downcast_ref::<gst::Bin>()?
        .by_name("out")?
        .static_pad("sink")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let idr = info
            .buffer()
            .and_then(|b| b.map_readable().ok())
            .is_some_and(|m| {
                m.windows(4)
                    .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
            });
        if !idr {
            return gst::PadProbeReturn::Ok;
        }
        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(started.elapsed());
        gst::PadProbeReturn::Remove
    });
    let _ = pipeline.set_state(gst::State::Playing);
    let got = poll(within, || *first.lock().unwrap_or_else(|e| e.into_inner()));
    let _ = pipeline.set_state(gst::State::Null);
    got
}

/// ffprobe as an RTMP player in the background, decoding the first `seconds` of stream time (a live
/// RTMP play never ends by itself) once the server has at least `streams` streams for it; retried
/// (each run bounded by `each`) while the server or the stream is not there yet, for up to `total`.
pub fn rtmp_player(
    url: String,
    seconds: u32,
    streams: usize,
    (each, total): (Duration, Duration),
) -> std::thread::JoinHandle<serde_json::Value> {
    std::thread::spawn(move || {
        let interval = format!("%+{seconds}");
        ffprobe_until(
            &[
                "-read_intervals",
                &interval,
                "-count_frames",
                "-show_streams",
                &url,
            ],
            streams,
            each,
            total,
        )
        .unwrap_or_default()
    })
}

/// Collects, from now on in this process, every debug line that tdstream's own code logs, in any
/// category, with every category at level 7 (as under GST_DEBUG=*:7). Ours: logged from a Rust file of
/// this workspace (cargo names those by their path in the workspace; crates from the registry and
/// GStreamer's C code have other paths). GStreamer's default log function is removed (every line of
/// GStreamer at level 7 would be printed).
pub fn capture_our_log_lines() -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = lines.clone();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    gst::log::set_default_threshold(gst::DebugLevel::Memdump);
    gst::log::set_active(true);
    gst::log::remove_default_log_function();
    gst::log::add_log_function(move |cat, _level, file, _func, line, obj, msg| {
        let file = file.as_str();
        let ours = file.ends_with(".rs") && (!file.starts_with('/') || file.starts_with(workspace));
        if ours {
            let text = format!(
                "{} {file}:{line}: {} {:?}",
                cat.name(),
                msg.get().map(|m| m.to_string()).unwrap_or_default(),
                obj.map(|o| o.to_string())
            );
            l.lock().unwrap_or_else(|e| e.into_inner()).push(text);
        }
    });
    lines
}

/// Decodes what `src` (a launch fragment ending in parsed H.264) gives for `window` after the pipeline
/// is PLAYING; counts only pictures decoded whole (avdec_h264 output-corrupt=false) from the first
/// keyframe on. The sink is `async=false` (it never holds the pipeline in PAUSED for a preroll): a
/// reader that joins a stream between keyframes gets audio first, and a demuxer's other branch
/// (`d.audio ! queue ! fakesink async=false`) must not fill and block before the first picture.
pub fn decoded(src: String, window: Duration) -> std::thread::JoinHandle<u64> {
    let r = decoded_with_gaps(src, window);
    std::thread::spawn(move || r.join().expect("reader").0)
}

/// The same, with the longest time between two decoded pictures (after the first) as it arrived.
pub fn decoded_with_gaps(
    src: String,
    window: Duration,
) -> std::thread::JoinHandle<(u64, Duration)> {
    std::thread::spawn(move || {
        let pipeline = pipeline(&format!(
            "{src} ! avdec_h264 output-corrupt=false ! fakesink name=out sync=false async=false"
        ));
        let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let gaps = std::sync::Arc::new(std::sync::Mutex::new((
            None::<std::time::Instant>,
            Duration::ZERO,
        )));
        let (f, g) = (frames.clone(), gaps.clone());
        on_each_buffer(&pipeline, "out", "sink", move |_| {
            f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let now = std::time::Instant::now();
            let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(last) = g.0 {
                g.1 = g.1.max(now - last);
            }
            g.0 = Some(now);
        });
        let started = std::time::Instant::now();
        let log = run_pipeline(&pipeline, window, |_| started.elapsed() >= window);
        let _ = pipeline.set_state(gst::State::Null);
        let n = frames.load(std::sync::atomic::Ordering::Relaxed);
        if n == 0 {
            eprintln!("reader of {src} decoded nothing: {}", log.text());
        }
        let gap = gaps.lock().unwrap_or_else(|e| e.into_inner()).1;
        (n, gap)
    })
}

/// The regression check of issue #29 for a 5 fps sender: the median latency after the join is under
/// 120 ms, where a picture held for the pipeline's latency (a frame and more) waits 200 ms and more.
pub fn assert_sent_as_encoded_at_5_fps(frames: &[(Instant, f64)]) {
    let (median, latencies) = steady_median(frames);
    assert!(
        median < 120.0,
        "median capture-to-arrival {median:.1} ms at 5 fps (a picture held for the pipeline's latency \
         waits >= 200 ms): {latencies:?}"
    );
}

/// The median latency of [`tdmeta_frames`]' frames after the first five (which can carry the join: the
/// rest are steady state), with those latencies sorted.
pub fn steady_median(frames: &[(Instant, f64)]) -> (f64, Vec<f64>) {
    let mut latencies: Vec<f64> = frames.iter().skip(5).map(|(_, l)| *l).collect();
    latencies.sort_by(f64::total_cmp);
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    (median, latencies)
}

/// What the reader `launch` (a pipeline with `tdmetaextract emit-frame-messages=true`) gets within
/// `timeout`, up to `count` frames: for each frame that carries tdstream metadata, when its message
/// arrived and its `latency-ms` (capture at tdmetainject to arrival, wall clock, so across processes);
/// or the receiver's error.
pub fn tdmeta_frames(
    launch: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<(Instant, f64)>, String> {
    tdmeta_frames_of(&pipeline(launch), count, timeout)
}

/// [`tdmeta_frames`] of a reader pipeline already made (and set up), which it plays and stops.
pub fn tdmeta_frames_of(
    p: &gst::Pipeline,
    count: usize,
    timeout: Duration,
) -> Result<Vec<(Instant, f64)>, String> {
    let bus = p.bus().expect("bus");
    let _ = p.set_state(gst::State::Playing);
    let deadline = Instant::now() + timeout;
    let mut frames = Vec::new();
    let mut error = None;
    while frames.len() < count && error.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Some(m) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[
                gst::MessageType::Element,
                gst::MessageType::Error,
                gst::MessageType::Eos,
            ],
        ) else {
            break;
        };
        match m.view() {
            gst::MessageView::Error(e) => error = Some(e.error().to_string()),
            gst::MessageView::Eos(_) => break,
            _ => {
                if let Some(l) = m
                    .structure()
                    .filter(|s| s.name() == "tdmetaextract-frame")
                    .and_then(|s| s.get::<f64>("latency-ms").ok())
                {
                    frames.push((Instant::now(), l));
                }
            }
        }
    }
    let _ = p.set_state(gst::State::Null);
    match error {
        Some(e) if frames.is_empty() => Err(e),
        _ => Ok(frames),
    }
}

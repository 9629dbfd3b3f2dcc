//! WebRTC test peers: the signalling server (`tdstream-signalling`, which also serves the viewer page and
//! prints the page's reports) and headless Chromium; the tests run in a loopback-only network namespace
//! ([`super::netns`]).

use super::{poll, Peer};
use gst::prelude::*;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// `tdstream-signalling` on OS-chosen ports, killed (by pid) when dropped.
pub struct Signalling {
    _peer: Peer,
    pub ws: String,
    pub http: String,
    lines: Receiver<String>,
}

impl Signalling {
    pub fn start() -> Signalling {
        Self::start_on(0)
    }

    pub fn start_on(port: u16) -> Signalling {
        super::init_webrtc();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tdstream-signalling"));
        cmd.args(["--port", &port.to_string(), "--http-port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut peer = Peer::spawn("tdstream-signalling", &mut cmd);
        let stdout = peer.child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut ws, mut http) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while ws.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .expect("tdstream-signalling did not print its addresses within 10 s");
            if let Some(a) = line.strip_prefix("signalling ") {
                ws = Some(a.to_string());
            } else if let Some(a) = line.strip_prefix("viewer ") {
                http = Some(a.to_string());
            }
        }
        Signalling {
            _peer: peer,
            ws: ws.unwrap_or_default(),
            http: http.unwrap_or_default(),
            lines,
        }
    }

    /// The next report of the viewer page with `viewer` as its id that satisfies `want`.
    pub fn report(
        &self,
        viewer: &str,
        timeout: Duration,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            let Some(json) = line.strip_prefix("report ") else {
                continue;
            };
            let Ok(r) = serde_json::from_str::<serde_json::Value>(json) else {
                continue;
            };
            if r["viewer"] == viewer && want(&r) {
                return Some(r);
            }
        }
    }

    /// The viewer page for the producer `name`, reporting as `viewer` for `seconds`.
    pub fn page(&self, name: &str, viewer: &str, seconds: u32) -> String {
        format!("{}?name={name}&id={viewer}&run={seconds}", self.http)
    }
}

/// Headless Chromium (Debian's `chromium`) on `url`, with the flags WebRTC on loopback needs, in a fresh
/// profile; killed (by pid) when dropped.
pub struct Browser {
    _peer: Peer,
    profile: std::path::PathBuf,
}

impl Browser {
    pub fn open(url: &str) -> Browser {
        let profile = super::tmpdir("chromium");
        let mut cmd = Command::new("/usr/lib/chromium/chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        Browser {
            _peer: Peer::spawn("chromium (Debian package chromium)", &mut cmd),
            profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Adds 127.0.0.1 to the ICE agent of every webrtcbin that the signaller of `element` (webrtcsrc,
/// whipserversrc) creates: libnice ignores the loopback interface otherwise.
pub fn ice_on_loopback(element: &gst::Element) {
    let signaller = element.property::<gst::glib::Object>("signaller");
    signaller.connect("webrtcbin-ready", false, |args| {
        if let Some(bin) = args.get(2).and_then(|v| v.get::<gst::Element>().ok()) {
            let agent = bin.property::<gst::glib::Object>("ice-agent");
            agent.emit_by_name::<bool>("add-local-ip-address", &[&"127.0.0.1"]);
        }
        None
    });
}

/// Waits until `f` holds, polling every 50 ms.
pub fn wait_for(timeout: Duration, f: impl Fn() -> bool) -> bool {
    poll(timeout, || f().then_some(())).is_some()
}

/// Gives every pad that `src` (webrtcsrc, whipserversrc, in `pipeline`) adds a bin of its own: video pads
/// `video` (a launch description ending in `fakesink name=out`), others a fakesink; `on_video` sees every
/// buffer reaching the video `out`.
pub fn receive_pads(
    pipeline: &gst::Pipeline,
    src: &gst::Element,
    video: &'static str,
    on_video: impl Fn(&gst::Buffer) + Send + Sync + 'static,
) {
    let weak = pipeline.downgrade();
    let on_video = std::sync::Arc::new(on_video);
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let is_video = pad.name().starts_with("video");
        let launch = if is_video {
            video
        } else {
            "fakesink name=out sync=false"
        };
        let bin = gst::parse::bin_from_description(launch, true).expect("receiver bin");
        if is_video {
            let f = std::sync::Arc::clone(&on_video);
            let sink = bin.by_name("out").expect("a fakesink named out");
            sink.static_pad("sink").expect("pad").add_probe(
                gst::PadProbeType::BUFFER,
                move |_, info| {
                    if let Some(b) = info.buffer() {
                        f(b);
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        let _ = pipeline.add(&bin);
        let _ = bin.sync_state_with_parent();
        let _ = pad.link(&bin.static_pad("sink").expect("ghost pad"));
    });
}

/// whipserversrc (gst-plugins-rs' WHIP server) on 127.0.0.1:`port`, ICE on loopback, playing and
/// listening, decoding what it receives whole (depayloaded, parsed, avdec_h264 output-corrupt=false):
/// the returned counter is the pictures decoded.
pub fn whip_server(port: u16) -> (gst::Pipeline, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    super::init_webrtc();
    let server = gst::Pipeline::new();
    let src = gst::ElementFactory::make("whipserversrc")
        .build()
        .expect("whipserversrc");
    src.property::<gst::glib::Object>("signaller")
        .set_property("host-addr", format!("http://127.0.0.1:{port}"));
    src.set_property("stun-server", None::<String>);
    ice_on_loopback(&src);
    server.add(&src).expect("add");
    let pictures = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let p = pictures.clone();
    receive_pads(
        &server,
        &src,
        "rtph264depay ! h264parse ! avdec_h264 output-corrupt=false ! fakesink name=out sync=false",
        move |_| {
            p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        },
    );
    server
        .set_state(gst::State::Playing)
        .expect("whipserversrc playing");
    assert!(
        super::wait_tcp(port, Duration::from_secs(10)),
        "WHIP server not up"
    );
    (server, pictures)
}

/// A webrtcsrc in `pipeline` that views the first producer of the signalling server at `uri`, without
/// STUN, with ICE on loopback.
pub fn viewer(pipeline: &gst::Pipeline, uri: &str) -> gst::Element {
    super::init_webrtc();
    let src = gst::ElementFactory::make("webrtcsrc")
        .property("connect-to-first-producer", true)
        .build()
        .expect("webrtcsrc");
    src.property::<gst::glib::Object>("signaller")
        .set_property("uri", uri);
    src.set_property("stun-server", None::<String>);
    ice_on_loopback(&src);
    pipeline.add(&src).expect("add");
    src
}

//! rtspsharedserver and nvencstreamsink mode=rtsp-server with real RTSP clients on 127.0.0.1:
//! ffprobe over TCP and UDP, and GStreamer's rtspsrc.

mod common;

use common::*;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// These tests use the process-wide RTSP server registry and gst-rtsp-server's process-wide thread
// pool: they run one at a time (`serial()`).

/// A running sender pipeline, stopped when dropped.
struct Sender {
    pipeline: gst::Pipeline,
    urls: Vec<String>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Starts `launch` and waits for `mounts` rtspsharedserver-mount messages (the mounts are live).
fn start(launch: &str, mounts: usize) -> Result<Sender, String> {
    let pipeline = gst::parse::launch(launch)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "pipeline")?;
    let bus = pipeline.bus().ok_or("bus")?;
    let _ = pipeline.set_state(gst::State::Playing);
    let mut urls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while urls.len() < mounts {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            let _ = pipeline.set_state(gst::State::Null);
            return Err("no mount within 15 s".into());
        };
        match msg.view() {
            gst::MessageView::Element(e)
                if e.structure()
                    .is_some_and(|s| s.name() == "rtspsharedserver-mount") =>
            {
                let s = e.structure().expect("structure");
                let name: String = s.get("stream-name").expect("stream-name");
                let port: u32 = s.get("port").expect("port");
                urls.push(format!("rtsp://127.0.0.1:{port}/{name}"));
            }
            gst::MessageView::Error(e) => {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(e.error().to_string());
            }
            _ => {}
        }
    }
    Ok(Sender { pipeline, urls })
}

fn source(codec_props: &str, w: u32, h: u32) -> String {
    format!("videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate=30/1 ! timeoverlay ! nvencstreamsink {codec_props}")
}

fn probe(url: &str, tcp: bool) -> serde_json::Value {
    let transport = if tcp { "tcp" } else { "udp" };
    ffprobe(
        // Bounded by packet count, not stream time: FFmpeg re-bases RTP timestamps at the first RTCP
        // sender report, which can make a time bound unreachable.
        &[
            "-rtsp_transport",
            transport,
            "-read_intervals",
            "%+#60",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_streams",
            url,
        ],
        Duration::from_secs(20),
    )
}

/// The frames ffprobe decoded of the first stream.
fn frames(v: &serde_json::Value) -> u64 {
    frames_read(&v["streams"][0])
}

/// rtspsrc → decoder; returns (frames decoded within `run`, time to the first decoded frame).
fn rtspsrc_frames(url: &str, protocols: &str, run: Duration) -> (u64, Option<Duration>) {
    let launch = format!("rtspsrc location={url} protocols={protocols} latency=0 ! decodebin ! fakesink name=out sync=false");
    let pipeline = gst::parse::launch(&launch)
        .expect("receiver")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    // libav decoders output frames decoded without their keyframe by default (output-corrupt):
    // count only the clean ones, which is what a viewer sees as a picture.
    pipeline.connect_deep_element_added(|_, _, element| {
        if element.find_property("output-corrupt").is_some() {
            element.set_property("output-corrupt", false);
        }
    });
    let count = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None));
    let started = Instant::now();
    let (c, f) = (count.clone(), first.clone());
    pipeline
        .by_name("out")
        .expect("out")
        .static_pad("sink")
        .expect("pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if c.fetch_add(1, Ordering::Relaxed) == 0 {
                *f.lock().unwrap() = Some(started.elapsed());
            }
            gst::PadProbeReturn::Ok
        });
    run_pipeline(&pipeline, run, |_| false);
    let _ = pipeline.set_state(gst::State::Null);
    let first = *first.lock().unwrap();
    (count.load(Ordering::Relaxed), first)
}

#[test]
fn two_streams_on_one_port_with_different_codecs_read_over_tcp_udp_and_rtspsrc() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "{} {}",
        source(&format!("name=s1 mode=rtsp-server port={port} stream-name=cam1 video-codec=h264 profile=high keyframe-interval=30"), 320, 240),
        source(&format!("name=s2 mode=rtsp-server port={port} stream-name=cam2 video-codec=h265 keyframe-interval=30"), 352, 288),
    );
    let sender = start(&launch, 2).expect("two mounts");
    let (u1, u2) = (
        format!("rtsp://127.0.0.1:{port}/cam1"),
        format!("rtsp://127.0.0.1:{port}/cam2"),
    );
    assert!(
        sender.urls.contains(&u1) && sender.urls.contains(&u2),
        "{:?}",
        sender.urls
    );
    // All three readers at the same time: each mount's media is prepared when it is published, so
    // clients of different mounts never prepare medias concurrently.
    let (a, b) = (u1.clone(), u2.clone());
    let tcp = std::thread::spawn(move || probe(&a, true));
    let udp = std::thread::spawn(move || probe(&b, false));
    let (n, _) = rtspsrc_frames(&u1, "udp", Duration::from_secs(3));
    let (p1, p2) = (
        tcp.join().expect("tcp reader"),
        udp.join().expect("udp reader"),
    );
    let s1 = &p1["streams"][0];
    assert_eq!(s1["codec_name"], "h264", "{p1}");
    assert_eq!(s1["profile"], "High", "{p1}");
    assert_eq!(
        (s1["width"].as_u64(), s1["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(frames(&p1) >= 40, "TCP: {p1}");
    let s2 = &p2["streams"][0];
    assert_eq!(s2["codec_name"], "hevc", "{p2}");
    assert_eq!(s2["profile"], "Main", "{p2}");
    assert_eq!(
        (s2["width"].as_u64(), s2["height"].as_u64()),
        (Some(352), Some(288))
    );
    assert!(frames(&p2) >= 40, "UDP: {p2}");
    assert!(n >= 40, "rtspsrc decoded {n} frames");
}

#[test]
fn late_joiner_decodes_at_once_despite_a_10_s_keyframe_interval() {
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &source(
            &format!("name=s mode=rtsp-server port={port} stream-name=late keyframe-interval=300"),
            320,
            240,
        ),
        1,
    )
    .expect("mount");
    // Someone already watches (the joiner is late to a running shared media), and really plays: else
    // the joiner would get the media's prerolled IDR and pass for the wrong reason.
    let watcher = gst::parse::launch(&format!(
        "rtspsrc location={} protocols=tcp latency=0 ! fakesink name=w sync=false",
        sender.urls[0]
    ))
    .expect("watcher");
    let watched = Arc::new(AtomicU64::new(0));
    let w = watched.clone();
    watcher
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("w"))
        .and_then(|f| f.static_pad("sink"))
        .expect("watcher's sink")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            w.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let _ = watcher.set_state(gst::State::Playing);
    assert!(
        poll(Duration::from_secs(10), || (watched
            .load(Ordering::Relaxed)
            >= 30)
            .then_some(()))
        .is_some(),
        "the first client does not play"
    );
    // Join well inside the 10 s GOP: wait until 2 s more of frames were encoded.
    let s = sender.pipeline.by_name("s").expect("s");
    let frames_encoded = || {
        s.property::<gst::Structure>("stats")
            .get::<u64>("frames-encoded")
            .unwrap_or(0)
    };
    let live = frames_encoded();
    let encoded = poll(Duration::from_secs(10), || {
        (frames_encoded() >= live + 60).then_some(())
    });
    assert!(encoded.is_some(), "the encoder did not run");
    let first = first_idr(&sender.urls[0], Duration::from_secs(5));
    let _ = watcher.set_state(gst::State::Null);
    let first = first.expect("a keyframe within 5 s");
    println!(
        "late joiner: first keyframe after {} ms (keyframe interval 10 s)",
        first.as_millis()
    );
    // ~50 ms on an idle machine (the RTSP handshake included); 500 ms leaves room for a loaded one and
    // is still far from the 10 s a joiner waits without the IDR on PLAY.
    assert!(
        first < Duration::from_millis(500),
        "first keyframe after {first:?}"
    );
}

/// Four clients joining a playing stream (10 s GOP) 300 ms apart, behind an rtspsharedserver with
/// `keyframe-min-interval` = `interval_ms`: how many IDRs the encoder made meanwhile (counted at the
/// server's input) and when, after the first joiner started, each joiner saw its first IDR.
fn four_joiners(interval_ms: u32) -> (usize, Vec<Duration>) {
    let port = free_port();
    let sender = start(
        &format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
             x264enc tune=zerolatency key-int-max=300 ! h264parse ! identity name=k ! \
             rtspsharedserver port={port} stream-name=km keyframe-min-interval={interval_ms}"
        ),
        1,
    )
    .expect("mount");
    let url = sender.urls[0].clone();
    // A watcher plays first (its own IDR is made before the count starts).
    let watcher = std::thread::spawn({
        let url = url.clone();
        move || rtspsrc_frames(&url, "tcp", Duration::from_secs(6))
    });
    let idrs = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let i = idrs.clone();
    sender
        .pipeline
        .by_name("k")
        .and_then(|k| k.static_pad("src"))
        .expect("identity k")
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if info
                .buffer()
                .is_some_and(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT))
            {
                i.lock().unwrap().push(Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    // The watcher's IDR has come and the rate limit it started is over.
    assert!(
        poll(Duration::from_secs(10), || (!idrs
            .lock()
            .unwrap()
            .is_empty())
        .then_some(()))
        .is_some(),
        "the watcher's IDR never came"
    );
    std::thread::sleep(Duration::from_millis(interval_ms as u64 + 500));
    let start = Instant::now();
    idrs.lock().unwrap().clear();
    let joiners: Vec<_> = (0..4u64)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300 * n));
                let begun = Instant::now();
                first_idr(&url, Duration::from_secs(5)).map(|t| begun + t - start)
            })
        })
        .collect();
    let firsts: Vec<Duration> = joiners
        .into_iter()
        .map(|j| {
            j.join()
                .expect("joiner")
                .expect("a joiner got no IDR within 5 s")
        })
        .collect();
    let made = idrs.lock().unwrap().len();
    let _ = watcher.join();
    (made, firsts)
}

/// `keyframe-min-interval`: joiners within the interval of an IDR share the next one instead of each
/// making its own (encoder bitrate spent on IDRs), and without it each joiner makes one.
#[test]
fn joiners_within_keyframe_min_interval_share_one_idr() {
    let _serial = serial();
    let (shared, firsts) = four_joiners(2000);
    println!("keyframe-min-interval=2000: {shared} IDRs, first IDR per joiner {firsts:?}");
    // The first joiner's IDR at once, one more for the three that came within 2 s of it.
    assert_eq!(shared, 2, "IDRs for four joiners: {firsts:?}");
    assert!(firsts[0] < Duration::from_millis(500), "{firsts:?}");
    let later: Vec<u128> = firsts[1..].iter().map(|t| t.as_millis()).collect();
    let spread = later.iter().max().unwrap() - later.iter().min().unwrap();
    assert!(
        spread < 200,
        "the later joiners saw different IDRs: {firsts:?}"
    );
    assert!(
        firsts[1] >= Duration::from_millis(1800),
        "the second IDR came before the interval was over: {firsts:?}"
    );
    let (each, firsts) = four_joiners(0);
    println!("keyframe-min-interval=0: {each} IDRs, first IDR per joiner {firsts:?}");
    assert_eq!(
        each, 4,
        "IDRs for four joiners without a minimum interval: {firsts:?}"
    );
}

#[test]
fn twenty_clients_share_one_encode_and_one_media() {
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &source(
            &format!("name=s mode=rtsp-server port={port} stream-name=crowd keyframe-interval=30"),
            160,
            120,
        ),
        1,
    )
    .expect("mount");
    let url = sender.urls[0].clone();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                rtspsrc_frames(
                    &url,
                    if i % 2 == 0 { "tcp" } else { "udp" },
                    Duration::from_secs(6),
                )
                .0
            })
        })
        .collect();
    // While they play: one media, and the encoder encodes each input frame once.
    let server = sender
        .pipeline
        .by_name("rtspsharedserver")
        .expect("inner rtspsharedserver");
    // The media is prepared at publish time, so "one media" holds before anybody comes: it is read
    // once all twenty play, which is when a media per client would show.
    let medias = poll(Duration::from_secs(10), || {
        let st = server.property::<gst::Structure>("stats");
        let playing = st.get::<u32>("clients").unwrap_or(0);
        (playing >= 20).then(|| st.get::<u32>("medias").unwrap_or(0))
    });
    let counts: Vec<u64> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let stats = sender
        .pipeline
        .by_name("s")
        .expect("s")
        .property::<gst::Structure>("stats");
    assert_eq!(
        medias,
        Some(1),
        "one shared media while twenty clients play"
    );
    println!("twenty clients decoded {counts:?}");
    assert!(
        counts.iter().all(|&n| n >= 100),
        "every client decodes: {counts:?}"
    );
    let (fin, enc) = (
        stats.get::<u64>("frames-in").unwrap(),
        stats.get::<u64>("frames-encoded").unwrap(),
    );
    // One video encoder in the whole sender, and it kept up: every input frame encoded once while
    // twenty clients played (a few may still be inside the encoder when the figures are read).
    let encoders: Vec<String> = sender
        .pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| {
            e.factory()
                .is_some_and(|f| f.klass().contains("Encoder/Video"))
        })
        .map(|e| e.name().to_string())
        .collect();
    println!("{fin} frames in, {enc} encoded by {encoders:?}");
    assert_eq!(encoders.len(), 1, "video encoders: {encoders:?}");
    assert!(
        enc <= fin && fin - enc <= 5,
        "{enc} frames encoded for {fin} input frames: one encode for all clients, each frame once"
    );
}

#[test]
fn unknown_mount_is_404_and_leaves_the_others_alone() {
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &source(
            &format!("mode=rtsp-server port={port} stream-name=real"),
            160,
            120,
        ),
        1,
    )
    .expect("mount");
    let v = ffprobe(
        &["-show_streams", &format!("rtsp://127.0.0.1:{port}/nothing")],
        Duration::from_secs(10),
    );
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("404")),
        "{v}"
    );
    assert!(frames(&probe(&sender.urls[0], true)) > 0);
}

#[test]
fn port_in_use_by_another_process_is_a_clear_error() {
    let _serial = serial();
    let holder = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let err = start(
        &source(
            &format!("mode=rtsp-server port={port} stream-name=x"),
            160,
            120,
        ),
        1,
    )
    .err()
    .expect("error");
    assert!(
        err.contains(&format!(
            "port {port} on 0.0.0.0 is in use by another process"
        )) && err.contains("Fix"),
        "{err}"
    );
}

#[test]
fn same_name_twice_and_bad_names_are_refused() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "{} {}",
        source(
            &format!("mode=rtsp-server port={port} stream-name=dup"),
            160,
            120
        ),
        source(
            &format!("mode=rtsp-server port={port} stream-name=dup"),
            160,
            120
        )
    );
    let err = start(&launch, 2).err().expect("error");
    assert!(
        err.contains("stream-name 'dup' is already served on port"),
        "{err}"
    );
    let err = start(
        &source(
            &format!("mode=rtsp-server port={port} stream-name=\"a b\""),
            160,
            120,
        ),
        1,
    )
    .err()
    .expect("error");
    assert!(err.contains("stream-name 'a b'"), "{err}");
}

#[test]
fn mount_goes_with_its_element_and_the_port_with_the_last_one() {
    let _serial = serial();
    let port = free_port();
    let first = start(
        &source(
            &format!("mode=rtsp-server port={port} stream-name=one"),
            160,
            120,
        ),
        1,
    )
    .expect("one");
    let second = start(
        &source(
            &format!("mode=rtsp-server port={port} stream-name=two"),
            160,
            120,
        ),
        1,
    )
    .expect("two");
    drop(first);
    let v = ffprobe(
        &["-show_streams", &format!("rtsp://127.0.0.1:{port}/one")],
        Duration::from_secs(10),
    );
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("404")),
        "one is gone: {v}"
    );
    assert!(frames(&probe(&second.urls[0], true)) > 0, "two still plays");
    drop(second);
    assert!(
        std::net::TcpListener::bind(("0.0.0.0", port)).is_ok(),
        "the port is free again"
    );
}

/// A hand-spoken RTSP control connection, for what ffprobe and rtspsrc cannot be made to do: send
/// Basic credentials (both choose Digest when offered), or set up multicast on the host that serves it
/// (gst-rtsp-server binds the group's ports without SO_REUSEADDR, so no second receiver can bind them).
struct RtspControl {
    stream: std::net::TcpStream,
    cseq: u32,
}

impl RtspControl {
    fn connect(port: u16) -> RtspControl {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        RtspControl { stream, cseq: 0 }
    }

    /// Sends one request and returns the reply's head (status line and headers); reads past its body.
    fn request(&mut self, method: &str, url: &str, headers: &[String]) -> String {
        use std::io::{Read, Write};
        self.cseq += 1;
        let mut text = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for h in headers {
            text.push_str(h);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        if self.stream.write_all(text.as_bytes()).is_err() {
            return String::new(); // the server closed the connection: no reply
        }
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n\r\n") {
            match self.stream.read(&mut byte) {
                Ok(1) => reply.push(byte[0]),
                _ => break,
            }
        }
        let head = String::from_utf8_lossy(&reply).to_string();
        // Skip the body (the SDP of a DESCRIBE).
        let length = header(&head, "Content-Length").and_then(|l| l.parse::<usize>().ok());
        let mut body = vec![0u8; length.unwrap_or(0)];
        let _ = self.stream.read_exact(&mut body);
        head
    }
}

fn header<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    reply.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The status line of a DESCRIBE sent with Basic credentials.
fn describe_with_basic(port: u16, path: &str, user: &str, pass: &str) -> String {
    let credentials = gst::glib::base64_encode(format!("{user}:{pass}").as_bytes());
    let reply = RtspControl::connect(port).request(
        "DESCRIBE",
        &format!("rtsp://127.0.0.1:{port}/{path}"),
        &[format!("Authorization: Basic {credentials}")],
    );
    reply.lines().next().unwrap_or_default().to_string()
}

#[test]
fn basic_and_digest_auth_let_the_right_user_in_and_refuse_a_wrong_password() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! x264enc tune=zerolatency key-int-max=30 ! \
         h264parse ! rtspsharedserver port={port} stream-name=private auth-users=\"alice:wonderland-1\""
    );
    let _sender = start(&launch, 1).expect("mount");
    let good = probe(
        &format!("rtsp://alice:wonderland-1@127.0.0.1:{port}/private"),
        true,
    );
    assert!(frames(&good) > 0, "{good}");
    // ffprobe answers the Digest challenge.
    let trace = ffprobe(
        &[
            "-v",
            "trace",
            "-show_streams",
            &format!("rtsp://alice:wonderland-1@127.0.0.1:{port}/private"),
        ],
        Duration::from_secs(10),
    );
    let trace = trace["error"].as_str().unwrap_or_default();
    assert!(
        trace.contains("Authorization: Digest"),
        "no Digest in ffprobe's trace"
    );
    assert!(
        !trace.contains("Authorization: Basic"),
        "ffprobe fell back to Basic"
    );
    assert_eq!(
        describe_with_basic(port, "private", "alice", "wonderland-1"),
        "RTSP/1.0 200 OK"
    );
    assert_eq!(
        describe_with_basic(port, "private", "alice", "wrong-pass"),
        "RTSP/1.0 401 Unauthorized"
    );
    let bad = ffprobe(
        &[
            "-show_streams",
            &format!("rtsp://alice:wrong-pass@127.0.0.1:{port}/private"),
        ],
        Duration::from_secs(10),
    );
    assert!(
        bad["error"].as_str().is_some_and(|e| e.contains("401")),
        "{bad}"
    );
    let anonymous = ffprobe(
        &["-show_streams", &format!("rtsp://127.0.0.1:{port}/private")],
        Duration::from_secs(10),
    );
    assert!(
        anonymous["error"]
            .as_str()
            .is_some_and(|e| e.contains("401")),
        "{anonymous}"
    );
}

#[test]
fn caps_that_cannot_be_payloaded_say_why() {
    let _serial = serial();
    assert!(
        gst::ElementFactory::find("rtpav1pay").is_none(),
        "this test needs a GStreamer without an AV1 RTP payloader (rtpav1pay, from gst-plugins-rs' rtp plugin), \
         where AV1 cannot be served over RTSP; with one, AV1 is served and there is \
         no error to check"
    );
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true num-buffers=30 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! \
         av1enc cpu-used=10 usage-profile=realtime ! av1parse ! rtspsharedserver port={port} stream-name=av1"
    );
    let log = run_launch(&launch, Duration::from_secs(30));
    let e = log.errors.first().cloned().unwrap_or_default();
    assert!(
        e.contains("rtpav1pay is not installed") && e.contains("Fix"),
        "{}",
        log.text()
    );
}

/// A self-signed certificate and key in one PEM file, made by openssl for this test.
fn self_signed_pem(dir: &std::path::Path) -> std::path::PathBuf {
    let (cert, key, both) = (dir.join("c.pem"), dir.join("k.pem"), dir.join("both.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "openssl req (run ./run setup first)");
    let pem = [
        std::fs::read(&cert).expect("cert"),
        std::fs::read(&key).expect("key"),
    ]
    .concat();
    std::fs::write(&both, pem).expect("pem");
    both
}

#[test]
fn rtsps_with_a_certificate_file() {
    let _serial = serial();
    let dir = tmpdir("rtsps");
    let pem = self_signed_pem(&dir);
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! x264enc tune=zerolatency key-int-max=30 ! \
         h264parse ! rtspsharedserver name=r port={port} stream-name=secure tls-certificate={}",
        pem.display()
    );
    let sender = start(&launch, 1).expect("mount");
    let url: String = sender
        .pipeline
        .by_name("r")
        .expect("r")
        .property::<Option<String>>("url")
        .expect("url");
    assert!(
        url.starts_with("rtsps://") && url.ends_with(&format!(":{port}/secure")),
        "{url}"
    );
    let v = probe(&format!("rtsps://127.0.0.1:{port}/secure"), true);
    assert_eq!(v["streams"][0]["codec_name"], "h264", "{v}");
    assert!(frames(&v) >= 30, "{v}");
    let plain = ffprobe(
        &["-show_streams", &format!("rtsp://127.0.0.1:{port}/secure")],
        Duration::from_secs(10),
    );
    assert!(
        plain["streams"].as_array().is_none_or(|a| a.is_empty()),
        "plain RTSP must not play: {plain}"
    );
    // Not because the server went away: it answers a plain-text OPTIONS on that port with no RTSP (TLS
    // records or a closed connection), and still plays over TLS afterwards.
    let answer = plain_rtsp_answer(port, "/secure");
    assert!(
        !answer.starts_with(b"RTSP/1.0"),
        "the RTSPS port answered plain RTSP: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let again = probe(&format!("rtsps://127.0.0.1:{port}/secure"), true);
    assert!(frames(&again) >= 30, "RTSPS stopped playing: {again}");
    // Another stream on this port without the certificate is refused clearly.
    let err = start(
        &source(
            &format!("mode=rtsp-server port={port} stream-name=plain"),
            160,
            120,
        ),
        1,
    )
    .err()
    .expect("error");
    assert!(
        err.contains("already serves RTSPS") && err.contains("tls-certificate"),
        "{err}"
    );
    drop(sender);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unusable_certificate_file_is_a_clear_error() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true num-buffers=10 ! x264enc ! h264parse ! rtspsharedserver port={port} stream-name=s tls-certificate=/nonexistent/cert.pem"
    );
    let err = start(&launch, 1).err().expect("error");
    assert!(
        err.contains("tls-certificate '/nonexistent/cert.pem' cannot be used")
            && err.contains("Fix"),
        "{err}"
    );
    // A path of 5000 characters is shown shortened, once.
    let long = format!("/nonexistent/{}.pem", "d".repeat(5000));
    let launch = format!(
        "videotestsrc is-live=true num-buffers=10 ! x264enc ! h264parse ! rtspsharedserver port={port} stream-name=s tls-certificate={long}"
    );
    let err = start(&launch, 1).err().expect("error");
    assert!(
        err.contains("(5017 characters)") && err.len() < 1000,
        "an error of {} bytes: {}…",
        err.len(),
        err.chars().take(300).collect::<String>()
    );
}

/// A client that goes silent without TEARDOWN: its session expires after session-timeout, while the
/// stream stays mounted for the next client.
#[test]
fn a_client_that_vanishes_without_teardown_is_cleaned_up() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! x264enc tune=zerolatency key-int-max=30 ! \
         h264parse ! rtspsharedserver name=r port={port} stream-name=gone session-timeout=2"
    );
    let sender = start(&launch, 1).expect("mount");
    let server = sender.pipeline.by_name("r").expect("r");
    let stat = |field: &str| {
        server
            .property::<gst::Structure>("stats")
            .get::<u32>(field)
            .unwrap_or(99)
    };
    let url = format!("rtsp://127.0.0.1:{port}/gone");
    let client = Peer::spawn(
        "ffprobe (to be killed)",
        std::process::Command::new("ffprobe")
            .args([
                "-v",
                "quiet",
                "-rtsp_transport",
                "udp",
                "-read_intervals",
                "%+#100000",
                "-count_frames",
                "-show_streams",
                &url,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    // Frozen before SETUP there would be no session to expire (the open connection holds the
    // media): wait until the client has its session.
    assert_eq!(
        poll(Duration::from_secs(10), || (stat("sessions") == 1)
            .then_some(())),
        Some(()),
        "the client has a session"
    );
    // Vanish the way a client behind a dead network does: its connection stays open and it sends
    // nothing more (no TEARDOWN, no RTCP, no keep-alive). A killed process would close the RTSP
    // connection, which gst-rtsp-server cleans up by itself.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &client.child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(stopped, "kill -STOP");
    let expired = poll(Duration::from_secs(30), || {
        (stat("sessions") == 0).then_some(())
    });
    drop(client);
    assert_eq!(
        expired,
        Some(()),
        "the vanished client's session is still there"
    );
    assert!(
        frames(&probe(&url, true)) > 0,
        "the next client still plays"
    );
}

/// multicast=true: a client asking for multicast gets an address and ports from multicast-range and
/// plays, next to a unicast client. (Receiving the group on the serving host is not possible: see
/// RtspControl.)
#[test]
fn multicast_setup_answers_with_an_address_from_the_range() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! x264enc tune=zerolatency key-int-max=30 ! \
         h264parse ! rtspsharedserver name=r port={port} stream-name=mc multicast=true multicast-range=239.255.77.10-239.255.77.20"
    );
    let sender = start(&launch, 1).expect("mount");
    let server = sender.pipeline.by_name("r").expect("r");
    let url = format!("rtsp://127.0.0.1:{port}/mc");
    let mut rtsp = RtspControl::connect(port);
    let describe = rtsp.request("DESCRIBE", &url, &["Accept: application/sdp".into()]);
    assert!(describe.starts_with("RTSP/1.0 200"), "{describe}");
    let setup = rtsp.request(
        "SETUP",
        &format!("{url}/stream=0"),
        &["Transport: RTP/AVP;multicast".into()],
    );
    assert!(setup.starts_with("RTSP/1.0 200"), "{setup}");
    let transport = header(&setup, "Transport").unwrap_or_default();
    let destination = transport
        .split(';')
        .find_map(|p| p.strip_prefix("destination="))
        .and_then(|d| d.parse::<std::net::Ipv4Addr>().ok());
    assert!(
        transport.contains("multicast")
            && destination.is_some_and(
                |d| (10..=20).contains(&d.octets()[3]) && d.octets()[..3] == [239, 255, 77]
            ),
        "{transport}"
    );
    let session = header(&setup, "Session")
        .and_then(|s| s.split(';').next())
        .unwrap_or_default()
        .to_string();
    let play = rtsp.request("PLAY", &url, &[format!("Session: {session}")]);
    assert!(play.starts_with("RTSP/1.0 200"), "{play}");
    let sessions = server
        .property::<gst::Structure>("stats")
        .get::<u32>("sessions")
        .unwrap_or(0);
    assert_eq!(sessions, 1, "the multicast client's session");
    let unicast = probe(&url, true);
    assert!(frames(&unicast) > 0, "TCP next to multicast: {unicast}");
}

/// multicast=true, received: a client on a second host (a network namespace of its own joined by a
/// veth pair, so it can bind the group's ports, which the server holds on its own host) plays the
/// stream over multicast only (ffprobe `-rtsp_transport udp_multicast`) and decodes pictures.
#[test]
fn multicast_is_received_by_a_client_on_a_second_host() {
    if !common::netns::in_loopback_netns("multicast_is_received_by_a_client_on_a_second_host") {
        return;
    }
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &format!(
            "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! \
             x264enc tune=zerolatency key-int-max=30 ! h264parse ! \
             rtspsharedserver port={port} stream-name=mc multicast=true \
             multicast-range=239.255.77.10-239.255.77.20"
        ),
        1,
    )
    .expect("mount");
    let client = common::netns::SecondHost::start(&format!(
        "exec timeout 20 ffprobe -v error -of json -rtsp_transport udp_multicast -read_intervals %+#60 \
         -count_frames -select_streams v:0 -show_streams rtsp://10.77.0.1:{port}/mc"
    ));
    let out = client.finish(Duration::from_secs(30));
    drop(sender);
    let json = out.find('{').map_or("", |i| &out[i..]);
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    assert_eq!(v["streams"][0]["codec_name"], "h264", "{out}");
    assert!(frames(&v) >= 30, "over multicast: {out}");
}

/// A TCP client that stops reading (its socket buffers fill up) must not stall the other clients of
/// the same shared media, nor the sending pipeline.
#[test]
fn a_slow_tcp_client_stalls_neither_the_others_nor_the_pipeline() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "videotestsrc is-live=true pattern=snow ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast bitrate=8000 key-int-max=30 ! \
         h264parse ! rtspsharedserver name=r port={port} stream-name=slow"
    );
    let sender = start(&launch, 1).expect("mount");
    let server = sender.pipeline.by_name("r").expect("r");
    let url = format!("rtsp://127.0.0.1:{port}/slow");
    let mut stuck = RtspControl::connect(port);
    let _ = stuck.request("DESCRIBE", &url, &["Accept: application/sdp".into()]);
    let setup = stuck.request(
        "SETUP",
        &format!("{url}/stream=0"),
        &["Transport: RTP/AVP/TCP;unicast;interleaved=0-1".into()],
    );
    assert!(setup.starts_with("RTSP/1.0 200"), "{setup}");
    let session = header(&setup, "Session")
        .and_then(|s| s.split(';').next())
        .unwrap_or_default()
        .to_string();
    let play = stuck.request("PLAY", &url, &[format!("Session: {session}")]);
    assert!(play.starts_with("RTSP/1.0 200"), "{play}");
    // From here on `stuck` never reads: 8 Mbit/s fill its socket buffers within a few seconds.
    let pushed = || {
        server
            .property::<gst::Structure>("stats")
            .get::<u64>("buffers-pushed")
            .unwrap_or(0)
    };
    let mark = pushed();
    assert!(
        poll(Duration::from_secs(10), || (pushed() > mark + 150)
            .then_some(()))
        .is_some(),
        "the pipeline stalled behind the slow client"
    );
    // The stuck connection is really stuck: megabytes wait in the server's send queue.
    let queued = || {
        ss(&["-tnH", &format!("sport = :{port}")])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    assert!(
        poll(Duration::from_secs(10), || (queued() > 1_000_000)
            .then_some(()))
        .is_some(),
        "the stuck client's send queue never filled: {}",
        queued()
    );
    let other = probe(&url, true);
    // 60 packets: the newcomer's IDR spans many packets (640x480), so 35–60 pictures decode from them
    // depending on where the IDR falls; fewer than 25 would mean the client is being starved.
    assert!(
        frames(&other) >= 25,
        "a TCP client next to the stuck one: {other}"
    );
    let mark = pushed();
    assert!(
        poll(Duration::from_secs(10), || (pushed() > mark + 60)
            .then_some(()))
        .is_some(),
        "the pipeline stalled after the second client"
    );
    drop(stuck);
}

/// `active=false` while PLAYING removes the mount and frees the port (it was the last); `active=true`
/// serves it again; the pipeline never stops or errors.
#[test]
fn active_toggled_while_playing_removes_and_restores_the_mount() {
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &source(
            &format!("name=s mode=rtsp-server port={port} stream-name=toggle keyframe-interval=30"),
            320,
            240,
        ),
        1,
    )
    .expect("mount");
    let url = format!("rtsp://127.0.0.1:{port}/toggle");
    assert!(frames(&probe(&url, true)) > 0, "plays before the toggle");
    let s = sender.pipeline.by_name("s").expect("s");
    s.set_property("active", false);
    let freed = poll(Duration::from_secs(10), || {
        std::net::TcpListener::bind(("0.0.0.0", port)).ok()
    });
    assert!(
        freed.is_some(),
        "port {port} still taken after active=false"
    );
    drop(freed);
    s.set_property("active", true);
    let again = poll(Duration::from_secs(20), || {
        let v = probe(&url, true);
        (frames(&v) > 0).then_some(v)
    });
    assert!(again.is_some(), "no frames after active=true");
    let errors = sender
        .pipeline
        .bus()
        .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]));
    assert!(errors.is_none(), "{errors:?}");
    assert_eq!(sender.pipeline.current_state(), gst::State::Playing);
}

/// How long the hostile clients of the next test keep at it.
const CHURN: Duration = Duration::from_secs(60);

/// One hostile client's loop until `until`: it plays for a while and vanishes (with or without
/// TEARDOWN), sends garbage, a truncated request, an oversized header, or connects and hangs up.
fn hostile_client(port: u16, seed: u64, until: Instant) -> u64 {
    use std::io::{Read, Write};
    let mut x = seed | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let url = format!("rtsp://127.0.0.1:{port}/hostile");
    let mut sessions = 0;
    while Instant::now() < until {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        match next(6) {
            0 | 1 => {
                let mut c = RtspControl { stream: s, cseq: 0 };
                let _ = c.request("DESCRIBE", &url, &["Accept: application/sdp".into()]);
                let setup = c.request(
                    "SETUP",
                    &format!("{url}/stream=0"),
                    &["Transport: RTP/AVP/TCP;unicast;interleaved=0-1".into()],
                );
                let session = header(&setup, "Session")
                    .and_then(|s| s.split(';').next())
                    .unwrap_or_default()
                    .to_string();
                let _ = c.request("PLAY", &url, &[format!("Session: {session}")]);
                sessions += 1;
                let watch = Instant::now() + Duration::from_millis(200 + next(1800));
                let mut buf = [0u8; 16384];
                while Instant::now() < watch {
                    if matches!(c.stream.read(&mut buf), Ok(0)) {
                        break;
                    }
                }
                if next(2) == 0 {
                    let _ = c.request("TEARDOWN", &url, &[format!("Session: {session}")]);
                }
            }
            2 => {
                let garbage: Vec<u8> = (0..1 + next(4096)).map(|_| next(256) as u8).collect();
                let _ = s.write_all(&garbage);
            }
            3 => {
                let _ =
                    s.write_all(format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAcce").as_bytes());
            }
            4 => {
                let big = "X".repeat(100_000);
                let _ = s.write_all(
                    format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nX-Big: {big}\r\n\r\n").as_bytes(),
                );
            }
            _ => {}
        }
    }
    sessions
}

/// 50 clients connecting and leaving at random for 60 s, garbage and truncated requests among them:
/// well-behaved clients keep being served and the pipeline keeps running.
#[test]
fn churning_and_garbage_clients_leave_the_server_serving() {
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &source(
            &format!(
                "name=s mode=rtsp-server port={port} stream-name=hostile keyframe-interval=30"
            ),
            320,
            240,
        ),
        1,
    )
    .expect("mount");
    let url = sender.urls[0].clone();
    let until = Instant::now() + CHURN;
    let clients: Vec<_> = (0..50u64)
        .map(|i| std::thread::spawn(move || hostile_client(port, 0x9E37_79B9 * (i + 1), until)))
        .collect();
    let bus = sender.pipeline.bus().expect("bus");
    let mut reads = 0;
    while Instant::now() < until {
        let v = probe(&url, reads % 2 == 0);
        // 60 packets read. With clients joining all the time this one's keyframe request is merged with
        // others (keyframe-min-interval) or waits for the next keyframe (1 s), and gst-rtsp-server's
        // CRITICAL storm (docs/FINDINGS.md) takes its share. Alone on the machine (nextest
        // threads-required) 51 to 60 pictures per read in every read of a run; beside another
        // streaming test as few as 14, hence alone.
        assert!(
            frames(&v) >= 30,
            "a well-behaved client amid the churn: {v}"
        );
        reads += 1;
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("the pipeline failed: {msg:?}");
        }
    }
    let sessions: u64 = clients.into_iter().map(|c| c.join().expect("client")).sum();
    assert!(sessions >= 50, "only {sessions} hostile sessions played");
    assert!(reads >= 3);
    assert_eq!(sender.pipeline.current_state(), gst::State::Playing);
    let (decoded, _) = rtspsrc_frames(&url, "udp", Duration::from_secs(3));
    assert!(decoded >= 30, "after the churn: {decoded} frames");
    assert!(bus.pop_filtered(&[gst::MessageType::Error]).is_none());
}

/// The `stats` property and the periodic `nvencstreamsink-stats` message tell what a user watches:
/// encode time, bitrate, frames, clients.
#[test]
fn stats_tell_encode_time_bitrate_and_clients() {
    let _serial = serial();
    let port = free_port();
    let sender = start(
        &source(
            &format!("name=s mode=rtsp-server port={port} stream-name=stats stats-interval=200 avg-bitrate=1"),
            320,
            240,
        ),
        1,
    )
    .expect("mount");
    let sink = sender.pipeline.by_name("s").expect("s");
    let stats = || sink.property::<gst::Structure>("stats");
    let url = sender.urls[0].clone();
    let client = std::thread::spawn(move || rtspsrc_frames(&url, "tcp", Duration::from_secs(4)));
    let playing = poll(Duration::from_secs(5), || {
        (stats().get::<u32>("rtsp-clients").unwrap_or(0) == 1).then(stats)
    });
    let s = playing.expect("rtsp-clients never reached 1");
    let encode_ms = s.get::<f64>("last-encode-time").expect("last-encode-time");
    assert!(encode_ms > 0.0 && encode_ms < 1000.0, "{s}");
    // Encoder output to the server's input: measured (0.16 ms), never exactly 0, well under a frame.
    let send_ms = s.get::<f64>("last-send-delay").expect("send delay");
    assert!(send_ms > 0.0 && send_ms < 33.0, "{s}");
    assert_eq!(s.get::<String>("encoder").as_deref(), Ok("x264enc"), "{s}");
    assert_eq!(s.get::<bool>("is-nvenc"), Ok(false), "{s}");
    assert!(s.get::<u64>("frames-encoded").unwrap_or(0) > 0, "{s}");
    let (decoded, _) = client.join().expect("client");
    assert!(decoded > 30, "{decoded}");
    // The client sent TEARDOWN when it stopped.
    assert!(
        poll(Duration::from_secs(5), || (stats()
            .get::<u32>("rtsp-clients")
            == Ok(0))
        .then_some(()))
        .is_some(),
        "{}",
        stats()
    );
    // Handed to the server over the last second: 0.99 Mbit/s measured for CBR 1 Mbit/s.
    let bitrate = stats().get::<u64>("bitrate").unwrap_or(0);
    assert!(
        (700_000..1_300_000).contains(&bitrate),
        "bitrate {bitrate} for avg-bitrate=1 Mbit/s"
    );
    // Posted every 200 ms.
    let bus = sender.pipeline.bus().expect("bus");
    while bus.pop().is_some() {} // what was posted before
    let started = Instant::now();
    let mut posted = 0;
    while started.elapsed() < Duration::from_secs(1) {
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Element],
        ) {
            posted += msg
                .structure()
                .is_some_and(|s| s.name() == "nvencstreamsink-stats") as u32;
        }
    }
    assert!(
        (3..=7).contains(&posted),
        "{posted} stats messages in 1 s at stats-interval=200"
    );
}

#[test]
fn audio_and_video_are_served_together_to_every_client() {
    let _serial = serial();
    let port = free_port();
    let launch = format!(
        "{} include-silent-audio=on audio-codec=aac",
        source(
            &format!("mode=rtsp-server port={port} stream-name=av"),
            320,
            240
        )
    );
    let sender = start(&launch, 1).expect("sender");
    let url = &sender.urls[0];
    // Three clients one after the other, each answered and each given both streams (with audio the
    // prepared media used to wait for ever for an audio buffer it was never given: no DESCRIBE answer).
    for _ in 0..3 {
        let v = ffprobe(
            &["-rtsp_transport", "tcp", "-show_streams", url],
            Duration::from_secs(10),
        );
        let codecs: Vec<&str> = v["streams"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["codec_name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(codecs, ["h264", "aac"], "{v}");
        let video = probe(url, true);
        assert!(frames(&video) >= 55, "{video}");
    }
}

/// `stream-url` (read-only, set once the element starts) is the URL clients open: `rtsp://`, an address
/// of this machine, the port and the stream name; rtspsrc given exactly that URL gets an IDR picture.
/// Opened once the mount is fed (the `connected` message): the URL is known when the element starts,
/// the mount a little later, and a client that comes in between gets 404.
#[test]
fn stream_url_is_the_url_clients_open() {
    init();
    let port = free_port();
    let mut run = live::Run::start(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         nvencstreamsink name=s include-silent-audio=off mode=rtsp-server port={port} stream-name=urlcheck"
    ));
    assert!(
        run.until_state("connected", 1, Duration::from_secs(15)),
        "the mount was never fed: {:?} {:?}",
        run.states,
        run.errors
    );
    let url = run
        .sink()
        .property::<Option<String>>("stream-url")
        .expect("stream-url once connected");
    let host = url
        .strip_prefix("rtsp://")
        .and_then(|rest| rest.strip_suffix(&format!(":{port}/urlcheck")))
        .unwrap_or_else(|| panic!("{url}: not rtsp://HOST:{port}/urlcheck"));
    let address: std::net::IpAddr = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .unwrap_or_else(|_| panic!("{url}: the host is not an address"));
    assert!(
        std::net::UdpSocket::bind((address, 0)).is_ok(),
        "{url}: {address} is not an address of this machine"
    );
    assert!(
        first_idr(&url, Duration::from_secs(10)).is_some(),
        "no IDR from {url}"
    );
}

/// What the server on `port` answers a plain-text RTSP OPTIONS with (up to 5 s, at most 64 bytes).
fn plain_rtsp_answer(port: u16, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!("OPTIONS rtsp://127.0.0.1:{port}{path} RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    let _ = tcp.write_all(request.as_bytes());
    let mut buf = [0u8; 64];
    let n = tcp.read(&mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

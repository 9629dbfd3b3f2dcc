//! Every kind of secret the plugin takes, in one stream, with every debug category at level 7 (as
//! under GST_DEBUG=*:7): none may appear in a line logged by tdstream's code (any category), in any bus
//! message (structure, error and warning text, debug strings), or in a readable property of our
//! elements. The destinations connect where a real peer can be had on 127.0.0.1 (nginx-rtmp, an SRT
//! caller with the passphrase and stream id, an RTSP client with the right and with a wrong password),
//! so that both the connected and the failing paths log; the rest (a dead RTMP server, a WHIP endpoint
//! nobody serves, TURN credentials) fail and are retried.

mod common;

use common::live::Run;
use common::nginx::nginx;
use common::*;
use gst::prelude::*;
use std::time::Duration;

const RTMP_KEY: &str = "KEY-secret-1";
const RTMP_URL_PASSWORD: &str = "PW-secret-2";
const RTMP_PASSWORD: &str = "RPW-secret-3";
const RTMP_QUERY_KEY: &str = "QKEY-secret-4";
const SRT_PASSPHRASE: &str = "PASS-secret-0123";
const SRT_STREAM_ID: &str = "SID-secret-5";
const WHIP_QUERY_TOKEN: &str = "TOK-secret-6";
const BEARER_TOKEN: &str = "BEARER-secret-7";
const TURN_USER: &str = "TUSER-secret-8";
const TURN_PASSWORD: &str = "TPW-secret-9";
const RTSP_PASSWORD: &str = "RTSP-secret-10";
const RTSP_WRONG_PASSWORD: &str = "WRONG-secret-11";

const SECRETS: &[&str] = &[
    RTMP_KEY,
    RTMP_URL_PASSWORD,
    RTMP_PASSWORD,
    RTMP_QUERY_KEY,
    SRT_PASSPHRASE,
    SRT_STREAM_ID,
    WHIP_QUERY_TOKEN,
    BEARER_TOKEN,
    TURN_USER,
    TURN_PASSWORD,
    RTSP_PASSWORD,
    RTSP_WRONG_PASSWORD,
];

#[test]
fn no_secret_reaches_a_log_line_a_bus_message_or_a_readable_property() {
    require_webrtc();
    let logs = capture_our_log_lines();
    let ng = nginx(None);
    let (dead, srt, whip, rtsp) = (free_port(), free_port(), free_port(), free_port());
    let mut run = Run::start(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! \
         nvencstreamsink name=s avg-bitrate=1 stats-interval=250 keyframe-interval=30 \
         reconnect-interval=0.2 reconnect-max-interval=0.3 \
         rtmp-password={RTMP_PASSWORD} bearer-token={BEARER_TOKEN} \
         turn-servers=turn://{TURN_USER}:{TURN_PASSWORD}@127.0.0.1:{dead} \
         destinations=\"rtmp://127.0.0.1:{ng}/live/{RTMP_KEY} \
         rtmp://alice:{RTMP_URL_PASSWORD}@127.0.0.1:{dead}/live/cam?key={RTMP_QUERY_KEY} \
         srt://127.0.0.1:{srt}?mode=listener&passphrase={SRT_PASSPHRASE}&streamid=publish:cam:alice:{SRT_STREAM_ID} \
         http://127.0.0.1:{whip}/whip/endpoint?token={WHIP_QUERY_TOKEN}\" \
         videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         x264enc tune=zerolatency key-int-max=30 ! h264parse ! \
         rtspsharedserver name=r port={rtsp} stream-name=private auth-users=\"alice:{RTSP_PASSWORD}\"",
        ng = ng.port
    ));
    // The two destinations without a peer have failed and been retried a few times.
    assert!(
        run.until(Duration::from_secs(15), |r| r.count("reconnecting") >= 4),
        "{:?}",
        run.states
    );
    // Readers with the secrets, so that every destination that can connect does.
    let window = Duration::from_secs(3);
    let readers = [
        decoded(
            format!("rtmp2src location=rtmp://127.0.0.1:{}/live/{RTMP_KEY} ! flvdemux name=d d.audio ! queue ! fakesink d.video ! queue ! h264parse", ng.port),
            window,
        ),
        decoded(
            format!(
                "srtsrc uri=\"srt://127.0.0.1:{srt}?mode=caller&passphrase={SRT_PASSPHRASE}&streamid=publish:cam:alice:{SRT_STREAM_ID}\" ! tsdemux ! h264parse"
            ),
            window,
        ),
        decoded(
            format!(
                "rtspsrc location=rtsp://127.0.0.1:{rtsp}/private user-id=alice user-pw={RTSP_PASSWORD} latency=0 ! rtph264depay ! h264parse"
            ),
            window,
        ),
        decoded(
            format!(
                "rtspsrc location=rtsp://127.0.0.1:{rtsp}/private user-id=alice user-pw={RTSP_WRONG_PASSWORD} latency=0 ! rtph264depay ! h264parse"
            ),
            window,
        ),
    ];
    run.until(window + Duration::from_secs(1), |_| false);
    let got: Vec<u64> = readers
        .into_iter()
        .map(|r| r.join().expect("reader"))
        .collect();
    // RTMP through nginx, SRT and RTSP with the right password decode; the wrong password gets nothing.
    assert!(
        got[..3].iter().all(|&n| n > 0) && got[3] == 0,
        "decoded (rtmp, srt, rtsp, rtsp with a wrong password): {got:?} {:?}",
        run.states
    );
    let mut readable = Vec::new();
    for element in run.pipeline.iterate_elements().into_iter().flatten() {
        for p in element.list_properties() {
            if p.flags().contains(gst::glib::ParamFlags::READABLE) {
                readable.push(format!(
                    "{}.{}={:?}",
                    element.name(),
                    p.name(),
                    element.property_value(p.name())
                ));
            }
        }
    }
    run.drain();
    let logged = logs.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    // Lines were captured from both crates (the filter on our files lets something through).
    assert!(
        logged.contains("starting 4 destinations") && logged.contains("rtspsharedserver"),
        "the log was not captured:\n{logged}"
    );
    let bus = run.messages.join("\n");
    assert!(bus.contains("nvencstreamsink-connection"), "{bus}");
    let readable = readable.join("\n");
    for s in SECRETS {
        assert!(!logged.contains(s), "{s} in our log:\n{logged}");
        assert!(!bus.contains(s), "{s} on the bus:\n{bus}");
        assert!(!readable.contains(s), "{s} in a property:\n{readable}");
    }
}

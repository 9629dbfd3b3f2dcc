//! A network too slow for the bitrate (issue #18): each test runs in a private network namespace whose
//! loopback is shaped with `tc` (htb + pfifo), sender and receiver (srtsrc, nginx-rtmp + FFmpeg) inside
//! it, bounded in time. What a user checks: pictures decoded on the far side, the statistics, the
//! warning, the bitrate messages.

mod common;

use common::netns::{in_loopback_netns, Shaped};
use common::*;
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// 1280x720 at 30 fps, `seconds` long, with a tone; smpte bars with a clock take the whole bitrate.
fn squeeze_sender(props: &str, seconds: u32) -> String {
    format!(
        "videotestsrc is-live=true pattern=smpte num-buffers={} ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
         timeoverlay ! nvencstreamsink name=s avg-bitrate=4 keyframe-interval=60 stats-interval=500 {props} \
         audiotestsrc is-live=true wave=sine ! s.audio",
        seconds * 30
    )
}

/// What an srtsrc caller decoded whole: the presentation times of its pictures (ns).
struct SrtReceiver {
    pipeline: gst::Pipeline,
    pts: Arc<Mutex<Vec<u64>>>,
}

impl SrtReceiver {
    fn start(port: u16) -> SrtReceiver {
        // output-corrupt=false: a picture with lost slices does not count.
        let launch = format!(
            "srtsrc uri=\"srt://127.0.0.1:{port}?mode=caller&latency=200\" ! tsdemux ! h264parse ! \
             avdec_h264 output-corrupt=false ! fakesink name=out sync=false"
        );
        let pipeline = pipeline(&launch);
        let pts = Arc::new(Mutex::new(Vec::new()));
        let p = pts.clone();
        on_each_buffer(&pipeline, "out", "sink", move |b| {
            if let Some(t) = b.pts() {
                p.lock().unwrap().push(t.nseconds());
            }
        });
        pipeline
            .set_state(gst::State::Playing)
            .expect("receiver plays");
        SrtReceiver { pipeline, pts }
    }

    /// Pictures shown from `from` to `to` after the first one.
    fn decoded_between(&self, from: Duration, to: Duration) -> usize {
        let pts = self.pts.lock().unwrap();
        let Some(first) = pts.iter().min().copied() else {
            return 0;
        };
        let (a, b) = (first + from.as_nanos() as u64, first + to.as_nanos() as u64);
        pts.iter().filter(|t| **t >= a && **t < b).count()
    }
}

impl Drop for SrtReceiver {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The first destination's structure in the last stats message.
fn dest_stat<T: for<'a> gst::glib::value::FromValue<'a> + 'static>(
    run: &live::Run,
    name: &str,
) -> Option<T> {
    let stats = run.stats.as_ref()?;
    let dests = stats.get::<gst::Array>("destinations").ok()?;
    let first = dests.first()?.get::<gst::Structure>().ok()?;
    first.get::<T>(name).ok()
}

/// The run's bitrate messages (when, bit/s, reason), collected as they are posted (a sync handler: the
/// run's own bus reading keeps only connection and stats messages).
fn bitrates(run: &live::Run) -> Arc<Mutex<Vec<(Instant, u64, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let bus = run.pipeline.bus().expect("bus");
    bus.enable_sync_message_emission();
    bus.connect_sync_message(Some("element"), move |_, msg| {
        if let Some(st) = msg
            .structure()
            .filter(|st| st.name() == "nvencstreamsink-bitrate")
        {
            s.lock().unwrap().push((
                Instant::now(),
                st.get::<u64>("bitrate").unwrap_or(0),
                st.get::<String>("reason").unwrap_or_default(),
            ));
        }
    });
    seen
}

/// Frames the element took in, from its last stats message.
fn frames_in(run: &live::Run) -> u64 {
    run.stats
        .as_ref()
        .and_then(|s| s.get::<u64>("frames-in").ok())
        .unwrap_or(0)
}

#[test]
fn srt_with_adaptive_bitrate_delivers_the_pictures_through_a_link_half_the_bitrate() {
    if !in_loopback_netns(
        "srt_with_adaptive_bitrate_delivers_the_pictures_through_a_link_half_the_bitrate",
    ) {
        return;
    }
    init();
    let _link = Shaped::new("2mbit", 100);
    let port = free_port();
    let mut run = live::Run::start(&squeeze_sender(
        &format!("mode=srt url=\"srt://127.0.0.1:{port}?mode=listener&latency=200\" adaptive-bitrate=true"),
        22,
    ));
    let changes = bitrates(&run);
    assert!(wait_listening_udp(port), "the SRT listener did not open");
    let rx = SrtReceiver::start(port);
    let ended = run.until(Duration::from_secs(40), |r| {
        !r.errors.is_empty() || frames_in(r) >= 22 * 30
    });
    run.drain();
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(ended, "the 22 s stream did not end in 40 s");
    // The last pictures are still on their way (SRT latency 200 ms).
    let window = (Duration::from_secs(5), Duration::from_secs(20));
    poll(Duration::from_secs(3), || {
        (rx.decoded_between(window.0, window.1) >= 450).then_some(())
    });
    let decoded = rx.decoded_between(window.0, window.1);
    let changes = changes.lock().unwrap().clone();
    let last = changes.last().map(|c| c.1).unwrap_or(4_000_000);
    let target = run.stat_u64("target-bitrate");
    assert!(
        decoded >= 428,
        "after the first 5 s the receiver decoded {decoded} of 450 pictures (>= 95 % expected); bitrate changes: {:?}",
        changes.iter().map(|c| (c.1, c.2.as_str())).collect::<Vec<_>>()
    );
    assert!(
        !changes.is_empty() && changes[0].1 < 4_000_000,
        "the bitrate never went down: {changes:?}"
    );
    assert!(
        last < 2_000_000 && target == last,
        "the bitrate settled at {last} (stats: {target}), above the 2 Mbit/s link"
    );
}

/// UDP port `port` is taken (by the SRT listener) within 10 s.
fn wait_listening_udp(port: u16) -> bool {
    poll(Duration::from_secs(10), || {
        std::net::UdpSocket::bind(("127.0.0.1", port))
            .err()
            .map(|_| ())
    })
    .is_some()
}

#[test]
fn srt_without_adaptive_bitrate_shows_the_trouble_and_warns() {
    if !in_loopback_netns("srt_without_adaptive_bitrate_shows_the_trouble_and_warns") {
        return;
    }
    init();
    let _link = Shaped::new("2mbit", 100);
    let port = free_port();
    let mut run = live::Run::start(&squeeze_sender(
        &format!("mode=srt url=\"srt://127.0.0.1:{port}?mode=listener&latency=200\""),
        15,
    ));
    assert!(wait_listening_udp(port), "the SRT listener did not open");
    let _rx = SrtReceiver::start(port);
    // The least the network took, and the most the element handed it (bitrate comes in bursts: the
    // two are read over different spans, 3 s and 1 s).
    let (mut send, mut bitrate) = (u64::MAX, 0u64);
    let mut congested = false;
    let warned = run.until(Duration::from_secs(15), |r| {
        r.warnings.iter().any(|w| w.contains("cannot keep up"))
    });
    // The statistics of those seconds: what the network took next to what it was given.
    run.until(Duration::from_secs(3), |r| {
        if let (Some(sent), Some(handed)) = (
            dest_stat::<u64>(r, "send-rate"),
            dest_stat::<u64>(r, "bitrate"),
        ) {
            (send, bitrate) = (send.min(sent), bitrate.max(handed));
        }
        congested |= dest_stat::<bool>(r, "congested").unwrap_or(false);
        false
    });
    run.drain();
    let warning = run
        .warnings
        .iter()
        .find(|w| w.contains("cannot keep up"))
        .cloned()
        .unwrap_or_default();
    assert!(warned, "no warning in 15 s; warnings: {:?}", run.warnings);
    assert!(
        warning.contains("mode=srt to srt://127.0.0.1:")
            && warning.contains("Fix: lower avg-bitrate")
            && warning.contains("adaptive-bitrate=true"),
        "{warning}"
    );
    assert_eq!(
        run.warnings
            .iter()
            .filter(|w| w.contains("cannot keep up"))
            .count(),
        1,
        "rate-limited: {:?}",
        run.warnings
    );
    assert!(congested, "stats never said congested: {:?}", run.stats);
    assert!(
        send < 2_200_000 && bitrate > 3_500_000,
        "the network took {send} bit/s of {bitrate}: the statistics must show the 2 Mbit/s link"
    );
    assert_eq!(
        run.stat_u64("target-bitrate"),
        4_000_000,
        "no adaptation asked for"
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
}

#[test]
fn srt_follows_a_link_that_drops_from_6_to_2_mbits_and_comes_back() {
    if !in_loopback_netns("srt_follows_a_link_that_drops_from_6_to_2_mbits_and_comes_back") {
        return;
    }
    init();
    let link = Shaped::new("6mbit", 100);
    let port = free_port();
    let mut run = live::Run::start(&squeeze_sender(
        &format!(
            "mode=srt url=\"srt://127.0.0.1:{port}?mode=listener&latency=200\" adaptive-bitrate=true"
        ),
        90,
    ));
    let changes = bitrates(&run);
    assert!(wait_listening_udp(port), "the SRT listener did not open");
    let _rx = SrtReceiver::start(port);
    // 6 Mbit/s carries the 4 Mbit/s stream: nothing changes.
    run.until(Duration::from_secs(5), |r| !r.errors.is_empty());
    assert!(
        changes.lock().unwrap().is_empty(),
        "{:?}",
        changes.lock().unwrap()
    );
    let squeezed = Instant::now();
    link.set_rate("2mbit");
    let down = run.until(Duration::from_secs(5), |_| {
        changes.lock().unwrap().iter().any(|c| c.1 < 2_000_000)
    });
    assert!(
        down,
        "the bitrate did not go below the 2 Mbit/s link within 5 s: {:?}",
        changes.lock().unwrap()
    );
    run.until(
        Duration::from_secs(10).saturating_sub(squeezed.elapsed()),
        |_| false,
    );
    let low = run.stat_u64("target-bitrate");
    // The encoder took it: what reaches the transport is below the link's rate too.
    let handed = dest_stat::<u64>(&run, "bitrate").unwrap_or(0);
    assert!(
        handed > 0 && handed < 2_300_000,
        "the encoder still sends {handed} bit/s at a target of {low}"
    );
    let recovered = Instant::now();
    link.set_rate("6mbit");
    let up = run.until(Duration::from_secs(30), |r| {
        r.stat_u64("target-bitrate") >= 3_000_000
    });
    run.drain();
    assert!(
        up,
        "the bitrate stayed at {} bit/s (from {low}) for 30 s after the link came back: {:?}",
        run.stat_u64("target-bitrate"),
        changes.lock().unwrap()
    );
    eprintln!(
        "down within {:?} of the squeeze, back above 3 Mbit/s {:?} after the link recovered",
        changes.lock().unwrap()[0].0.duration_since(squeezed),
        recovered.elapsed()
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(run.stat_u64("reconnects"), 0);
    assert!(
        run.sequence()
            .iter()
            .all(|s| *s != "reconnecting" && *s != "failed"),
        "{:?}",
        run.sequence()
    );
}

#[test]
fn srt_loss_on_the_link_shows_in_packet_loss_ratio() {
    if !in_loopback_netns("srt_loss_on_the_link_shows_in_packet_loss_ratio") {
        return;
    }
    init();
    // A queue of 10 packets at 3 Mbit/s: the bursts of each 4 Mbit/s frame overflow it.
    let link = Shaped::new("3mbit", 10);
    let port = free_port();
    let mut run = live::Run::start(&squeeze_sender(
        &format!("mode=srt url=\"srt://127.0.0.1:{port}?mode=listener&latency=200\""),
        12,
    ));
    assert!(wait_listening_udp(port), "the SRT listener did not open");
    let _rx = SrtReceiver::start(port);
    let (mut loss, mut retransmitted) = (0f64, 0u64);
    run.until(Duration::from_secs(10), |r| {
        loss = loss.max(dest_stat::<f64>(r, "packet-loss-ratio").unwrap_or(0.0));
        retransmitted =
            retransmitted.max(dest_stat::<u64>(r, "packets-retransmitted").unwrap_or(0));
        loss > 0.01 && retransmitted > 0
    });
    let dropped = link.dropped();
    assert!(
        dropped > 0,
        "the link dropped nothing: the test provokes no loss"
    );
    assert!(
        loss > 0.01 && retransmitted > 0,
        "the link dropped {dropped} packets; stats: packet-loss-ratio {loss}, packets-retransmitted {retransmitted}"
    );
    let overall = run
        .stats
        .as_ref()
        .and_then(|s| s.get::<f64>("packet-loss-ratio").ok())
        .unwrap_or(0.0);
    assert!(overall > 0.0, "the element-wide packet-loss-ratio is 0");
}

#[test]
fn rtmp_through_nginx_adapts_to_the_link_and_warns_without_adaptation() {
    if !in_loopback_netns("rtmp_through_nginx_adapts_to_the_link_and_warns_without_adaptation") {
        return;
    }
    init();
    let _link = Shaped::new("2mbit", 100);
    let server = nginx::nginx(None);
    for adaptive in [true, false] {
        let url = format!("rtmp://127.0.0.1:{}/live/squeeze{adaptive}", server.port);
        let mut run = live::Run::start(&squeeze_sender(
            &format!("mode=rtmp url={url} adaptive-bitrate={adaptive}"),
            30,
        ));
        let changes = bitrates(&run);
        if adaptive {
            let settled = run.until(Duration::from_secs(20), |_| {
                changes.lock().unwrap().iter().any(|c| c.1 < 2_000_000)
            });
            run.drain();
            assert!(
                settled,
                "the bitrate did not go below the 2 Mbit/s link in 20 s: {:?}; warnings {:?}",
                changes.lock().unwrap(),
                run.warnings
            );
            let reason = changes.lock().unwrap()[0].2.clone();
            assert!(reason.starts_with("down: "), "{reason}");
        } else {
            let warned = run.until(Duration::from_secs(20), |r| {
                r.warnings.iter().any(|w| w.contains("cannot keep up"))
            });
            run.drain();
            let warning = run
                .warnings
                .iter()
                .find(|w| w.contains("cannot keep up"))
                .cloned()
                .unwrap_or_default();
            assert!(warned, "no warning in 20 s: {:?}", run.warnings);
            assert!(
                warning.contains("mode=rtmp to rtmp://127.0.0.1:")
                    && warning.contains("Fix: lower avg-bitrate"),
                "{warning}"
            );
            assert!(changes.lock().unwrap().is_empty());
        }
        assert!(run.errors.is_empty(), "{:?}", run.errors);
    }
}

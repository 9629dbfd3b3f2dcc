//! What a running `nvencstreamsink` tells the application: each destination's connection state and the
//! element's summary of them, the `nvencstreamsink-connection` and `nvencstreamsink-stats` messages,
//! `stats`, and the errors and warnings of its children re-posted without secrets and with the fix.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{NvencStreamSink, State, CAT};
use crate::destination::monitor::Reporter;
use crate::destination::{self, Dest};
use crate::nvencstreamsink::ConnectionState;
use tdstream_common::sync::lock;

/// A network error as the user sees it: "mode=rtmp to <url redacted>: <text>. <hint>" (one
/// destination) or "destination 2 (rtmp) to <url redacted>: …" (several), with the hints its transport
/// chooses from `detail` (the text plus the sink's debug string). Not yet redacted.
fn describe_network(state: &State, dest: &Dest, text: &str, detail: &str) -> String {
    let kind = dest.destination.kind();
    let out = if state.tees.is_some() {
        format!(
            "destination {} ({}) to {}: {text}",
            position(state, dest.id) + 1,
            kind.name,
            dest.shown
        )
    } else {
        format!("mode={} to {}: {text}", kind.mode.nick(), dest.shown)
    };
    dest.destination.with_hints(&out, detail)
}

/// Where destination `id` is in the running list (0-based).
fn position(state: &State, id: u32) -> usize {
    state
        .dests
        .iter()
        .position(|d| d.id == id)
        .unwrap_or(state.dests.len())
}

fn by_id(state: &State, id: u32) -> Option<&Arc<Dest>> {
    state.dests.iter().find(|d| d.id == id)
}

/// The destination that `src` belongs to: inside its link, or its network sink.
fn dest_of<'a>(state: &'a State, src: &gst::Object) -> Option<&'a Arc<Dest>> {
    state.dests.iter().find(|d| {
        d.link.as_ref().is_some_and(|l| l.contains(src))
            || d.network_sink
                .as_ref()
                .is_some_and(|s| src == s.upcast_ref::<gst::Object>())
    })
}

/// The element as the monitor sees it: a weak reference, so that the monitor keeps nothing alive.
pub(super) struct ElementReporter(pub glib::WeakRef<crate::nvencstreamsink::NvencStreamSink>);

impl ElementReporter {
    fn with(&self, f: impl FnOnce(&NvencStreamSink)) {
        if let Some(obj) = self.0.upgrade() {
            f(obj.imp());
        }
    }
}

impl Reporter for ElementReporter {
    fn alive(&self) -> bool {
        self.0.upgrade().is_some()
    }

    fn connected(&self, id: u32, reconnected: bool, attempt: u32) {
        self.with(|imp| imp.link_connected(id, reconnected, attempt));
    }

    fn connecting(&self, id: u32, attempt: u32) {
        self.with(|imp| imp.destination_changed(id, ConnectionState::Connecting, attempt, 0, ""));
    }

    fn reconnecting(&self, id: u32, attempt: u32, of: Option<u32>, delay: Duration, reason: &str) {
        let of = of.map(|n| format!(" of {n}")).unwrap_or_default();
        self.with(|imp| {
            imp.destination_changed(
                id,
                ConnectionState::Reconnecting,
                attempt,
                delay.as_millis() as u64,
                reason,
            );
            imp.link_warning(
                id,
                &format!(
                    "{reason}; reconnecting in {:.1} s (attempt {attempt}{of})",
                    delay.as_secs_f64()
                ),
            );
        });
    }

    fn give_up(&self, id: u32, text: &str) {
        self.with(|imp| imp.give_up(id, text));
    }

    fn tick(&self) {
        self.with(|imp| imp.tick());
    }
}

impl NvencStreamSink {
    /// Every destination to `new` (start, stop, an error of the element).
    pub(super) fn set_all(&self, new: ConnectionState) {
        let indices: Vec<u32> = lock(&self.state)
            .as_ref()
            .map(|s| s.dests.iter().map(|d| d.id).collect())
            .unwrap_or_default();
        for i in indices {
            self.destination_changed(i, new, 0, 0, "");
        }
        self.set_summary(new);
    }

    /// Sets the state of the destination with id `id`; on a change, posts `nvencstreamsink-connection`
    /// for it (with its position in the list) and updates the element's `connection-state` (the
    /// summary of all destinations).
    pub(super) fn destination_changed(
        &self,
        id: u32,
        new: ConnectionState,
        attempt: u32,
        delay_ms: u64,
        reason: &str,
    ) {
        let (url, summary) = {
            let state = lock(&self.state);
            let Some(state) = state.as_ref() else {
                return;
            };
            let Some(dest) = by_id(state, id) else {
                return;
            };
            if !dest.set_state(new) {
                return;
            }
            let states: Vec<_> = state.dests.iter().map(|d| d.state()).collect();
            (
                (dest.shown.clone(), position(state, id) as u32),
                destination::summary(&states),
            )
        };
        let (url, position) = url;
        gst::debug!(
            CAT,
            imp = self,
            "destination {} ({url}): {:?} {}",
            position + 1,
            new,
            reason
        );
        let msg = gst::message::Element::builder(
            gst::Structure::builder("nvencstreamsink-connection")
                .field("state", new)
                .field("attempt", attempt)
                .field("delay", delay_ms)
                .field("reason", reason)
                .field("destination", position)
                .field("url", url)
                .build(),
        )
        .src(&*self.obj())
        .build();
        let _ = self.obj().post_message(msg);
        self.set_summary(summary);
    }

    /// The summary again, after a destination was removed.
    pub(super) fn refresh_summary(&self) {
        let states: Vec<_> = match lock(&self.state).as_ref() {
            Some(s) => s.dests.iter().map(|d| d.state()).collect(),
            None => return,
        };
        self.set_summary(destination::summary(&states));
    }

    pub(super) fn set_summary(&self, new: ConnectionState) {
        {
            let mut c = lock(&self.connection);
            if *c == new {
                return;
            }
            *c = new;
        }
        self.obj().notify("connection-state");
    }

    /// An error from inside a restartable link goes to the monitor (which reconnects) instead of the
    /// application, as long as the reconnection policy allows it.
    pub(super) fn to_monitor(
        &self,
        msg: &gst::Message,
        err: &glib::Error,
        debug: Option<&str>,
    ) -> bool {
        let state = lock(&self.state);
        let Some(state) = state.as_ref() else {
            return false;
        };
        let (Some(monitor), Some(src)) = (&state.monitor, msg.src()) else {
            return false;
        };
        let Some(dest) = state
            .dests
            .iter()
            .find(|d| d.link.as_ref().is_some_and(|l| l.contains(src)))
        else {
            return false;
        };
        if !state.reconnect.enabled() {
            return false;
        }
        let mut reason = own_words(err, debug);
        // The sink's own words for an authentication failure are often only in the debug text.
        let is_final = |t: &str| dest.destination.is_final(t);
        if let Some(d) = debug.filter(|d| is_final(d) && !is_final(&reason)) {
            reason = format!("{reason} ({})", d.lines().last().unwrap_or(d));
        }
        let reason = state.redactor.redact(&reason);
        gst::info!(
            CAT,
            imp = self,
            "destination {} link error (handled): {reason}",
            position(state, dest.id) + 1
        );
        monitor.failed(dest.id, reason);
        true
    }

    /// A sink inside a link posted EOS although the stream goes on (whipclientsink ends its stream when
    /// the peer connection fails): that is a lost connection, for the monitor, and the EOS is not the
    /// application's (it would end the pipeline with exit code 0 and nothing sent).
    pub(super) fn link_eos(&self, msg: &gst::Message) -> bool {
        let state = lock(&self.state);
        let (Some(state), Some(src)) = (state.as_ref(), msg.src()) else {
            return false;
        };
        let Some(dest) = state.dests.iter().find(|d| {
            d.link.as_ref().is_some_and(|l| {
                // The EOS comes from the link's outer bin once its inner bins have ended.
                (l.contains(src) || src == l.outer().upcast_ref::<gst::Object>()) && !l.ended()
            })
        }) else {
            return false;
        };
        gst::info!(
            CAT,
            imp = self,
            "destination {}: its sink ended its stream by itself",
            position(state, dest.id) + 1
        );
        let reason = dest
            .link
            .as_ref()
            .and_then(|l| l.take_failure())
            .unwrap_or_else(|| dest.destination.ended_by_itself());
        if let Some(m) = &state.monitor {
            m.failed(dest.id, state.redactor.redact(&reason));
        }
        true
    }

    /// An error from inside a link that says only that it closes itself: after its stream ended, or
    /// while the element goes down (webrtcsink's signaller reports the WebSocket it closes).
    pub(super) fn closing_noise(&self, msg: &gst::Message) -> bool {
        let state = lock(&self.state);
        let (Some(state), Some(src)) = (state.as_ref(), msg.src()) else {
            return false;
        };
        let tearing_down = self.tearing_down.load(Ordering::SeqCst);
        state.dests.iter().any(|d| {
            d.destination.closing_errors_are_noise()
                && d.link
                    .as_ref()
                    .is_some_and(|l| l.contains(src) && (l.ended() || tearing_down))
        })
    }

    /// "mode=rtmp to <url redacted>: <text>. Fix: …" for the destination with id `id`.
    pub(super) fn network_text(&self, id: u32, text: &str) -> String {
        let state = lock(&self.state);
        let Some(state) = state.as_ref() else {
            return text.to_string();
        };
        match by_id(state, id) {
            Some(d) => state
                .redactor
                .redact(&describe_network(state, d, text, text)),
            None => state.redactor.redact(text),
        }
    }

    /// A destination's link came up (again).
    fn link_connected(&self, id: u32, reconnected: bool, attempt: u32) {
        if reconnected {
            if let Some(d) = self.dest(id) {
                d.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            gst::info!(
                CAT,
                imp = self,
                "destination (id {id}) reconnected after {attempt} attempt(s)"
            );
        }
        self.destination_changed(id, ConnectionState::Connected, attempt, 0, "");
    }

    fn link_warning(&self, id: u32, text: &str) {
        let text = self.network_text(id, &format!("connection lost: {text}"));
        gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", text));
    }

    /// A destination is gone for good: its state is failed; an ERROR for the application when it was
    /// the last one, else a WARNING (the others go on).
    fn give_up(&self, id: u32, text: &str) {
        let text = self.network_text(id, text);
        self.destination_changed(id, ConnectionState::Failed, 0, 0, &text);
        if *lock(&self.connection) == ConnectionState::Failed {
            gst::element_imp_error!(self, gst::ResourceError::Write, ("{}", text));
        } else {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                ("{}; the other destinations go on", text)
            );
        }
    }

    /// A destination's buffer is full: it drops until a keyframe (rate-limited by the caller).
    pub(super) fn destination_behind(&self, id: u32) {
        let text = self.network_text(
            id,
            &format!(
                "cannot keep up: its buffer ({} s) is full, frames are dropped until it takes a keyframe \
                 again; the other destinations are not affected",
                super::build::BRANCH_BUFFER.as_secs()
            ),
        );
        gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", text));
    }

    fn dest(&self, id: u32) -> Option<Arc<Dest>> {
        lock(&self.state)
            .as_ref()
            .and_then(|s| by_id(s, id).cloned())
    }

    /// Called by the monitor about ten times a second: rates, and the stats message when due
    /// (`stats-interval` is read each time: a change while PLAYING applies at once).
    fn tick(&self) {
        let now = Instant::now();
        let dests: Vec<Arc<Dest>> = match lock(&self.state).as_ref() {
            Some(s) => s.dests.clone(),
            None => return,
        };
        self.judge_destinations(now, &dests);
        let interval = Duration::from_millis(lock(&self.settings).stats_interval as u64);
        let post = {
            let mut posted = lock(&self.posted_at);
            let due =
                !interval.is_zero() && posted.is_none_or(|p| now.duration_since(p) >= interval);
            if due {
                *posted = Some(now);
            }
            due
        };
        if post {
            let msg = gst::message::Element::builder(self.stats())
                .src(&*self.obj())
                .build();
            let _ = self.obj().post_message(msg);
        }
    }

    /// The URL a receiver opens, per destination (the RTSP server's own URL from the internal
    /// rtspsharedserver, the others redacted), separated by spaces.
    pub(super) fn stream_url(&self) -> Option<String> {
        let state = lock(&self.state);
        let state = state.as_ref()?;
        let urls: Vec<String> = state
            .dests
            .iter()
            .map(|d| d.destination.stream_url(d.network_sink.as_ref()))
            .collect();
        Some(urls.join(" "))
    }

    pub(super) fn stats(&self) -> gst::Structure {
        let c = &self.counters;
        let state = lock(&self.state);
        let s = state.as_ref();
        let (encoder, is_nvenc, fallback) = s
            .map(|s| {
                (
                    s.encoder_name.clone(),
                    s.is_nvenc,
                    s.fallback_reason.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        let dests: Vec<Arc<Dest>> = s.map(|s| s.dests.clone()).unwrap_or_default();
        drop(state);
        let send_delay = c.send_delay.last_ms();
        let mut per = Vec::new();
        let (mut bytes, mut bitrate, mut send_rate, mut dropped, mut audio_dropped, mut reconnects) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let (mut loss, mut clients, mut delay, mut congested) = (0f64, 0u32, 0f64, false);
        for (position, d) in dests.iter().enumerate() {
            let sink = d.sink();
            let f = d.figures();
            let (l, n) = match &sink {
                // Where the sink counts its packets, the share of the last second; else its own figure.
                Some(sink) if f.net.is_none() => (
                    d.destination.packet_loss_ratio(sink),
                    d.destination.clients(sink),
                ),
                Some(sink) => (f.loss, d.destination.clients(sink)),
                None => (0.0, 0),
            };
            let (v, a) = d.frames_dropped();
            let dc = &d.counters;
            let (b, rc) = (
                dc.bytes_sent.load(Ordering::Relaxed),
                dc.reconnects.load(Ordering::Relaxed),
            );
            let dd = send_delay + d.buffered_ms();
            let jam = d.congested();
            bytes += b;
            bitrate += f.bitrate;
            send_rate += f.send_rate;
            dropped += v;
            audio_dropped += a;
            reconnects += rc;
            loss = loss.max(l);
            clients += n;
            delay = delay.max(dd);
            congested |= jam;
            let mut one = gst::Structure::builder("destination")
                .field("index", position as u32)
                .field("url", &d.shown)
                .field("transport", d.destination.kind().name)
                .field("state", d.state())
                .field("bytes-sent", b)
                .field("bitrate", f.bitrate)
                .field("send-rate", f.send_rate)
                .field("frames-dropped", v)
                .field("reconnects", rc)
                .field("packet-loss-ratio", l)
                .field("last-send-delay", dd)
                .field("congested", jam);
            if let Some(net) = f.net.filter(|_| d.destination.kind().name == "srt") {
                one = one
                    .field("bytes-dropped", net.dropped_bytes)
                    .field("packets-retransmitted", net.retransmitted_packets)
                    .field("rtt", net.rtt_ms.unwrap_or(0.0))
                    .field("link-bandwidth", net.bandwidth_bps.unwrap_or(0));
            }
            per.push(one.build().to_send_value());
        }
        gst::Structure::builder("nvencstreamsink-stats")
            .field("connection-state", *lock(&self.connection))
            .field("encoder", encoder)
            .field("is-nvenc", is_nvenc)
            .field("fallback-reason", fallback)
            .field("last-encode-time", c.encode_time.last_ms())
            .field(
                "last-send-delay",
                if dests.is_empty() { send_delay } else { delay },
            )
            .field("packet-loss-ratio", loss)
            .field("bitrate", bitrate)
            .field("send-rate", send_rate)
            .field("target-bitrate", self.target_bps.load(Ordering::Relaxed))
            .field("congested", congested)
            .field("frames-in", c.frames_in.load(Ordering::Relaxed))
            .field("frames-encoded", c.frames_encoded.load(Ordering::Relaxed))
            .field("frames-dropped", dropped)
            .field("audio-buffers-dropped", audio_dropped)
            .field("bytes-sent", bytes)
            .field("reconnects", reconnects)
            .field("rtsp-clients", clients)
            .field("destinations", gst::Array::from_values(per))
            .build()
    }

    /// Re-posts a child's error or warning with every secret removed and, for a network sink, its
    /// destination and a hint at the fix.
    pub(super) fn rewrite(
        &self,
        msg: &gst::Message,
        err: glib::Error,
        debug: Option<glib::GString>,
        is_error: bool,
    ) -> gst::Message {
        let state = lock(&self.state);
        let Some(state) = state.as_ref() else {
            return msg.clone();
        };
        let dest = msg.src().and_then(|src| dest_of(state, src));
        let mut text = err.message().to_string();
        if let Some(dest) = dest {
            text = own_words(&err, debug.as_deref());
            let detail = format!("{text} {}", debug.as_deref().unwrap_or(""));
            text = describe_network(state, dest, &text, &detail);
        }
        let text = state.redactor.redact(&text);
        let debug = debug.map(|d| state.redactor.redact(&d));
        let error = rebuild_error(&err, &text);
        let src = msg.src().cloned();
        if is_error {
            let mut b = gst::message::Error::builder_from_error(error);
            if let Some(d) = debug.as_deref() {
                b = b.debug(d);
            }
            if let Some(src) = src.as_ref() {
                b = b.src(src);
            }
            b.build()
        } else {
            let mut b = gst::message::Warning::builder_from_error(error);
            if let Some(d) = debug.as_deref() {
                b = b.debug(d);
            }
            if let Some(src) = src.as_ref() {
                b = b.src(src);
            }
            b.build()
        }
    }

    /// With several destinations, an error of one destination's network sink (outside a link: an SRT
    /// listener, the RTSP server) fails that destination only: its state goes to failed and the error
    /// becomes a warning; the others go on. Returns the warning to post instead, if so; `Some(None)`
    /// for GStreamer's "state change failed" that follows the error a warning already told.
    pub(super) fn isolate(
        &self,
        msg: &gst::Message,
        err: &glib::Error,
        debug: Option<&str>,
    ) -> Option<Option<gst::Message>> {
        let (id, failed_already) = {
            let state = lock(&self.state);
            let state = state.as_ref()?;
            if state.dests.len() < 2 {
                return None;
            }
            let dest = dest_of(state, msg.src()?)?;
            (dest.id, dest.state() == ConnectionState::Failed)
        };
        if failed_already && err.matches(gst::CoreError::StateChange) {
            gst::debug!(
                CAT,
                imp = self,
                "destination failed already: {}",
                err.message()
            );
            return Some(None);
        }
        self.destination_changed(id, ConnectionState::Failed, 0, 0, err.message());
        if *lock(&self.connection) == ConnectionState::Failed {
            return None; // the last one: the error goes on
        }
        let warning = self.rewrite(msg, err.clone(), debug.map(glib::GString::from), false);
        Some(Some(warning))
    }
}

/// An error's text; where it is GStreamer's generic one (webrtcsink's signalling errors), the element's
/// own words from the last line of the debug text instead.
pub(super) fn own_words(err: &glib::Error, debug: Option<&str>) -> String {
    let text = err.message();
    match debug.and_then(|d| d.lines().last()) {
        Some(own) if text.starts_with("GStreamer encountered") && !own.trim().is_empty() => {
            own.trim().to_string()
        }
        _ => text.to_string(),
    }
}

/// The same error domain and code with a new message.
fn rebuild_error(err: &glib::Error, text: &str) -> glib::Error {
    if let Some(k) = err.kind::<gst::ResourceError>() {
        glib::Error::new(k, text)
    } else if let Some(k) = err.kind::<gst::StreamError>() {
        glib::Error::new(k, text)
    } else if let Some(k) = err.kind::<gst::CoreError>() {
        glib::Error::new(k, text)
    } else if let Some(k) = err.kind::<gst::LibraryError>() {
        glib::Error::new(k, text)
    } else {
        glib::Error::new(gst::ResourceError::Failed, text)
    }
}

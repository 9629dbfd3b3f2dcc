use crate::sync::lock;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::monitor::Monitor;
use super::plan::{self, Capabilities, FlvMuxer, Plan, Target};
use super::props::{self, Settings};
use super::timing::Stopwatch;
use super::{chain, ConnectionState, Mode};
use crate::encoder::select::{self, SelectError};
use crate::reconnect::Policy;
use crate::secrets::Redactor;
use crate::transport;
use crate::transport::link::Link;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "nvencstreamsink",
        gst::DebugColorFlags::empty(),
        Some("tdstream all-in-one encode-and-stream sink"),
    )
});

/// Counters updated from pad probes on the streaming threads.
#[derive(Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_encoded: AtomicU64,
    bytes_sent: AtomicU64,
    /// Successful reconnections in this run.
    reconnects: AtomicU64,
    /// bit/s over the last second, computed by the monitor.
    bitrate: AtomicU64,
    encode_time: Stopwatch,
    send_delay: Stopwatch,
}

/// Called with a buffer's timestamp (ns) at a measuring point.
type PtsHook = Box<dyn Fn(&Counters, u64) + Send + Sync>;

/// What the monitor needs between two ticks to compute rates and pace the stats messages.
#[derive(Default)]
struct Ticks {
    bytes_at: Option<(u64, std::time::Instant)>,
    posted_at: Option<std::time::Instant>,
}

/// What exists while the element runs (NULL→READY … READY→NULL).
struct State {
    children: Vec<gst::Element>,
    encoder: Option<gst::Element>,
    encoder_name: String,
    is_nvenc: bool,
    fallback_reason: Option<String>,
    redactor: Redactor,
    mode: Mode,
    target_shown: String,
    /// mode=rtmp with Enhanced RTMP: the codec's name, for the hint when a server hangs up.
    enhanced_rtmp: Option<&'static str>,
    network_sink: Option<gst::Element>,
    /// RTMP and SRT caller/rendezvous: the restartable link.
    link: Option<Arc<Link>>,
    monitor: Option<Monitor>,
    reconnect: Policy,
    stats_interval: std::time::Duration,
}

#[derive(Default)]
pub struct NvencStreamSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    connection: Mutex<ConnectionState>,
    counters: Arc<Counters>,
    video_pad: std::sync::OnceLock<gst::GhostPad>,
    audio_pad: crate::audiopad::AudioPad,
    /// Serialises `active` changes applied while running.
    toggling: Mutex<()>,
    /// Going down from PAUSED: what the network sink says while it closes is not news.
    tearing_down: std::sync::atomic::AtomicBool,
    ticks: Mutex<Ticks>,
}

/// A network error as the user sees it: "mode=rtmp to <url redacted>: <text>. <hint>", with the hint
/// chosen from `detail` (the text plus the sink's debug string). Not yet redacted.
fn describe_network(state: &State, text: &str, detail: &str) -> String {
    let mode = state.mode.nick();
    let mut out = format!("mode={mode} to {}: {text}", state.target_shown);
    if let Some(hint) = transport::explain(detail) {
        out = format!("{out}. {hint}");
    }
    if let Some(codec) = state.enhanced_rtmp {
        if let Some(hint) = transport::explain_enhanced(detail, codec) {
            out = format!("{out}. {hint}");
        }
    }
    out
}

#[glib::object_subclass]
impl ObjectSubclass for NvencStreamSink {
    const NAME: &'static str = "GstNvencStreamSink";
    type Type = super::NvencStreamSink;
    type ParentType = gst::Bin;
}

impl ObjectImpl for NvencStreamSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(props::specs);
        PROPS.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![glib::subclass::Signal::builder("force-idr")
                .action()
                .class_handler(|args| {
                    if let Ok(obj) = args[0].get::<super::NvencStreamSink>() {
                        obj.imp().force_idr();
                    }
                    None
                })
                .build()]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        if pspec.name() == "url" {
            gst::debug!(
                CAT,
                imp = self,
                "url set (shown redacted once the stream starts)"
            );
        } else if pspec.name() != "rtmp-password" {
            gst::debug!(CAT, imp = self, "{} set", pspec.name());
        }
        let was_active = s.active;
        props::set(&mut s, pspec.name(), value);
        if pspec.name() == "active" && s.active != was_active {
            drop(s);
            self.schedule_active_change();
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "connection-state" => lock(&self.connection).to_value(),
            "stats" => self.stats().to_value(),
            "stream-url" => self.stream_url().to_value(),
            name => props::get(&lock(&self.settings), name)
                .unwrap_or_else(|| pspec.default_value().clone()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        let Some(templ) = obj.pad_template("video") else {
            return;
        };
        let pad = gst::GhostPad::builder_from_template(&templ)
            .name("video")
            .build();
        if obj.add_pad(&pad).is_ok() {
            let _ = self.video_pad.set(pad);
        }
    }
}

impl GstObjectImpl for NvencStreamSink {}

impl ElementImpl for NvencStreamSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "NVENC Stream Sink (TouchDesigner Video Stream Out)",
                "Sink/Network/Video/Audio",
                "Encodes raw video (NVENC, or software where there is none) and audio, and streams them over \
                 RTMP or SRT (caller/listener/rendezvous); TouchDesigner's Video Stream Out TOP for GStreamer",
                "tdstream developers",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst::PadTemplate::new(
                "video",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &gst::Caps::builder("video/x-raw").build(),
            );
            let audio = gst::PadTemplate::new(
                "audio",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &gst::Caps::builder("audio/x-raw").build(),
            );
            [video, audio].into_iter().filter_map(Result::ok).collect()
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        self.audio_pad
            .request_new_pad(self.obj().upcast_ref(), templ)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        self.audio_pad.release(self.obj().upcast_ref(), pad);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        // A live `active` change rebuilds the children on a helper thread: never at the same time as
        // the element starts or stops.
        let _serial = matches!(
            transition,
            gst::StateChange::NullToReady | gst::StateChange::ReadyToNull
        )
        .then(|| lock(&self.toggling));
        if transition == gst::StateChange::NullToReady {
            self.start()?;
        }
        if transition == gst::StateChange::ReadyToPaused {
            self.spawn_monitor();
        }
        if transition == gst::StateChange::PausedToReady {
            // No reconnection may add elements while the children are being stopped.
            self.tearing_down
                .store(true, std::sync::atomic::Ordering::SeqCst);
            self.stop_monitor();
        }
        if transition == gst::StateChange::ReadyToPaused {
            self.tearing_down
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        let result = self.parent_change_state(transition);
        if result.is_err() && transition == gst::StateChange::NullToReady
            || transition == gst::StateChange::ReadyToNull
        {
            self.stop();
        }
        result
    }
}

impl BinImpl for NvencStreamSink {
    fn handle_message(&self, msg: gst::Message) {
        if let gst::MessageView::Error(e) = msg.view() {
            if self.closing_noise(&msg) {
                gst::info!(
                    CAT,
                    imp = self,
                    "ignored while the stream ends: {}",
                    self.network_text(&own_words(&e.error(), e.debug().as_deref()))
                );
                return;
            }
            if self.to_monitor(&msg, &e.error(), e.debug().as_deref()) {
                return;
            }
        }
        let rewritten = match msg.view() {
            gst::MessageView::Error(e) => {
                self.set_connection(ConnectionState::Failed);
                Some(self.rewrite(&msg, e.error(), e.debug(), true))
            }
            gst::MessageView::Warning(w) => Some(self.rewrite(&msg, w.error(), w.debug(), false)),
            _ => None,
        };
        self.parent_handle_message(rewritten.unwrap_or(msg));
    }
}

impl NvencStreamSink {
    fn capabilities() -> Capabilities {
        let template_has = |factory: &str, media: &str| {
            gst::ElementFactory::find(factory).is_some_and(|f| {
                f.static_pad_templates().iter().any(|t| {
                    t.direction() == gst::PadDirection::Sink && t.caps().to_string().contains(media)
                })
            })
        };
        Capabilities {
            eflv_h265: template_has("eflvmux", "video/x-h265"),
            eflv_av1: template_has("eflvmux", "video/x-av1"),
            ts_av1: template_has("mpegtsmux", "video/x-av1"),
            rtp_av1: crate::plugins::exists("rtpav1pay"),
        }
    }

    fn fail(&self, kind: gst::CoreError, text: &str) -> gst::StateChangeError {
        gst::element_imp_error!(self, kind, ("{}", text));
        gst::StateChangeError
    }

    fn fail_settings(&self, text: &str) -> gst::StateChangeError {
        gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", text));
        gst::StateChangeError
    }

    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = lock(&self.settings).clone();
        let plan = plan::plan(&settings, Self::capabilities())
            .map_err(|e| self.fail_settings(&e.to_string()))?;
        for w in &plan.warnings {
            gst::element_imp_warning!(self, gst::ResourceError::Settings, ("{}", w));
        }
        let target_shown = match &plan.target {
            Target::Rtmp(t) => t.redacted(),
            Target::Srt(t) => t.redacted(),
            Target::Rtsp(t) => format!("rtsp://<this host>:{}/{}", t.port, t.stream_name),
            Target::Webrtc(t) => crate::webrtc::shown(&t.url),
        };
        gst::info!(
            CAT,
            imp = self,
            "starting mode {:?} to {}",
            settings.mode,
            target_shown
        );
        let audio_linked = self.audio_pad.get().as_ref().is_some_and(|p| p.is_linked());

        let mut state = State {
            children: Vec::new(),
            encoder: None,
            encoder_name: String::new(),
            is_nvenc: false,
            fallback_reason: None,
            redactor: plan.redactor.clone(),
            mode: settings.mode,
            target_shown,
            enhanced_rtmp: match (&plan.target, plan.flv) {
                (Target::Rtmp(_), FlvMuxer::Legacy)
                | (Target::Srt(_) | Target::Rtsp(_) | Target::Webrtc(_), _) => None,
                (Target::Rtmp(_), _) => Some(plan.encoder.codec.nick()),
            },
            network_sink: None,
            link: None,
            monitor: None,
            reconnect: Policy {
                attempts: settings.reconnect_attempts,
                interval: secs(settings.reconnect_interval),
                max_interval: secs(settings.reconnect_max_interval),
            },
            stats_interval: std::time::Duration::from_millis(settings.stats_interval as u64),
        };
        let result = if settings.active {
            self.build_streaming(&plan, audio_linked, &mut state)
        } else {
            self.build_inactive(audio_linked, &mut state)
        };
        if let Err(e) = result {
            // Take the half-built children away again.
            *lock(&self.state) = Some(state);
            self.stop();
            return Err(e);
        }
        *lock(&self.ticks) = Ticks::default();
        *lock(&self.state) = Some(state);
        if settings.active {
            self.connection_changed(ConnectionState::Connecting, 0, 0, "");
        }
        Ok(())
    }

    /// active=false at start: input is dropped, nothing is opened.
    fn build_inactive(
        &self,
        audio_linked: bool,
        state: &mut State,
    ) -> Result<(), gst::StateChangeError> {
        let mut sinks = vec![("video-drop", self.video_pad.get().cloned())];
        if audio_linked {
            sinks.push(("audio-drop", self.audio_pad.get()));
        }
        for (name, pad) in sinks {
            let sink = crate::plugins::make("fakesink", name, "active=false")
                .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
            sink.set_property("sync", false);
            sink.set_property("async", false);
            self.add_child(&sink, state)?;
            if let (Some(pad), Some(target)) = (pad, sink.static_pad("sink")) {
                let _ = pad.set_target(Some(&target));
            }
        }
        Ok(())
    }

    fn add_child(&self, e: &gst::Element, state: &mut State) -> Result<(), gst::StateChangeError> {
        self.obj().add(e).map_err(|err| {
            self.fail(
                gst::CoreError::Failed,
                &format!("adding {}: {err}", e.name()),
            )
        })?;
        state.children.push(e.clone());
        Ok(())
    }

    fn add_chain(
        &self,
        chain: &[gst::Element],
        state: &mut State,
    ) -> Result<(), gst::StateChangeError> {
        for e in chain {
            self.add_child(e, state)?;
        }
        gst::Element::link_many(chain).map_err(|e| {
            self.fail(
                gst::CoreError::Negotiation,
                &format!("linking the internal chain: {e}"),
            )
        })
    }

    fn build_streaming(
        &self,
        plan: &Plan,
        audio_linked: bool,
        state: &mut State,
    ) -> Result<(), gst::StateChangeError> {
        let with_audio = audio_linked || plan.silent_audio;
        let transport = transport::build(plan, with_audio)
            .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        let per_viewer = matches!(&plan.target, Target::Webrtc(t) if t.per_viewer);
        let video = if per_viewer {
            // webrtcsink encodes for each viewer.
            state.encoder_name = "webrtcsink (per viewer)".into();
            chain::raw_video(plan)
        } else {
            let chosen = self.choose_encoder(plan, state)?;
            chain::video(plan, &chosen, transport.video_caps.clone())
        }
        .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        let transport_el: gst::Element = transport.bin.clone().upcast();
        self.add_child(&transport_el, state)?;
        state.network_sink = transport.network_sink.clone();
        state.link = transport.link.clone();
        self.add_chain(&video, state)?;
        self.link_to_transport(&video, &transport_el, "video")?;
        if let (Some(first), Some(pad)) = (video.first(), self.video_pad.get()) {
            if let Some(target) = first.static_pad("sink") {
                let _ = pad.set_target(Some(&target));
            }
        }
        self.link_audio(plan, audio_linked, &video, &transport_el, state)?;
        if let Some(encoder) = &state.encoder {
            self.install_probes(&video, encoder);
        }
        if let Some(link) = &transport.link {
            let c = Arc::clone(&self.counters);
            link.set_on_new_sink(Box::new(move |sink| count_bytes(sink, &c, None)));
        } else if let Some(sink) = &transport.network_sink {
            let listener =
                matches!(&plan.target, Target::Srt(t) if t.mode == crate::url::SrtMode::Listener);
            if listener {
                self.follow_callers(sink);
                count_bytes(sink, &self.counters, None);
            } else {
                count_bytes(sink, &self.counters, Some(self.obj().downgrade()));
            }
        }
        Ok(())
    }

    fn link_audio(
        &self,
        plan: &Plan,
        audio_linked: bool,
        video: &[gst::Element],
        transport: &gst::Element,
        state: &mut State,
    ) -> Result<(), gst::StateChangeError> {
        if !(audio_linked || plan.silent_audio) {
            return Ok(());
        }
        let audio = chain::audio(plan, !audio_linked)
            .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        self.add_chain(&audio, state)?;
        self.link_to_transport(&audio, transport, "audio")?;
        if !audio_linked {
            Self::end_with_video(video, &audio);
        } else if let (Some(first), Some(pad)) = (audio.first(), self.audio_pad.get()) {
            if let Some(target) = first.static_pad("sink") {
                let _ = pad.set_target(Some(&target));
            }
        }
        Ok(())
    }

    fn link_to_transport(
        &self,
        chain: &[gst::Element],
        transport: &gst::Element,
        pad: &str,
    ) -> Result<(), gst::StateChangeError> {
        let last = chain.last().ok_or(gst::StateChangeError)?;
        last.link_pads(Some("src"), transport, Some(pad))
            .map_err(|e| {
                self.fail(
                    gst::CoreError::Negotiation,
                    &format!("linking {pad} to the transport: {e}"),
                )
            })
    }

    /// Chooses and configures the encoder, and records it in `state`.
    fn choose_encoder(
        &self,
        plan: &Plan,
        state: &mut State,
    ) -> Result<select::Chosen, gst::StateChangeError> {
        let settings = lock(&self.settings).clone();
        let chosen = select::choose(
            settings.encoder_policy,
            settings.encoder_name.as_deref(),
            &plan.encoder,
        )
        .map_err(|e| match e {
            SelectError::Missing(m) => self.fail(gst::CoreError::MissingPlugin, &m.to_string()),
            SelectError::NoNvenc { .. } => self.fail(gst::CoreError::MissingPlugin, &e.to_string()),
            other => self.fail_settings(&other.to_string()),
        })?;
        if let Some(reason) = &chosen.fallback_reason {
            gst::element_imp_warning!(
                self,
                gst::CoreError::MissingPlugin,
                (
                    "NVENC not used, encoding with {} in software: {}",
                    chosen.factory,
                    reason
                )
            );
        }
        for w in &chosen.config.warnings {
            gst::element_imp_warning!(self, gst::ResourceError::Settings, ("{}", w));
        }
        gst::info!(
            CAT,
            imp = self,
            "encoder {} (nvenc: {})",
            chosen.factory,
            chosen.is_nvenc
        );
        state.encoder = Some(chosen.element.clone());
        state.encoder_name = chosen.factory.clone();
        state.is_nvenc = chosen.is_nvenc;
        state.fallback_reason = chosen.fallback_reason.clone();
        Ok(chosen)
    }

    /// The silent audio source is live and endless: end it when the video ends, so the muxer (and the
    /// pipeline) reach EOS.
    fn end_with_video(video: &[gst::Element], audio: &[gst::Element]) {
        let (Some(pad), Some(silent)) = (
            video.first().and_then(|q| q.static_pad("sink")),
            audio.first(),
        ) else {
            return;
        };
        let silent = silent.downgrade();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                if ev.type_() == gst::EventType::Eos {
                    if let Some(src) = silent.upgrade() {
                        src.send_event(gst::event::Eos::new());
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    fn install_probes(&self, video: &[gst::Element], encoder: &gst::Element) {
        let counters = &self.counters;
        counters.frames_in.store(0, Ordering::Relaxed);
        counters.frames_encoded.store(0, Ordering::Relaxed);
        counters.bytes_sent.store(0, Ordering::Relaxed);
        counters.reconnects.store(0, Ordering::Relaxed);
        counters.bitrate.store(0, Ordering::Relaxed);
        counters.encode_time.reset();
        counters.send_delay.reset();
        if let Some(pad) = video.first().and_then(|q| q.static_pad("sink")) {
            let c = Arc::clone(counters);
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.frames_in.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        // Encode time: encoder input → output; send delay: encoder output → transport input (plus the
        // time data waits in the transport's buffer, added when read).
        let pts_probe = |pad: Option<gst::Pad>, f: PtsHook| {
            if let Some(pad) = pad {
                let c = Arc::clone(counters);
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                        f(&c, pts.nseconds());
                    }
                    gst::PadProbeReturn::Ok
                });
            }
        };
        pts_probe(
            encoder.static_pad("sink"),
            Box::new(|c, pts| c.encode_time.start(pts, std::time::Instant::now())),
        );
        pts_probe(
            encoder.static_pad("src"),
            Box::new(|c, pts| {
                let now = std::time::Instant::now();
                c.frames_encoded.fetch_add(1, Ordering::Relaxed);
                let _ = c.encode_time.stop(pts, now);
                c.send_delay.start(pts, now);
            }),
        );
        pts_probe(
            video.last().and_then(|e| e.static_pad("src")),
            Box::new(|c, pts| {
                let _ = c.send_delay.stop(pts, std::time::Instant::now());
            }),
        );
    }

    /// SRT listener: connected while at least one caller is, connecting (waiting for one) otherwise.
    fn follow_callers(&self, sink: &gst::Element) {
        let callers = Arc::new(AtomicU64::new(0));
        for (signal, delta) in [("caller-added", 1i64), ("caller-removed", -1)] {
            if glib::subclass::SignalId::lookup(signal, sink.type_()).is_none() {
                continue;
            }
            let (weak, callers) = (self.obj().downgrade(), Arc::clone(&callers));
            sink.connect(signal, false, move |_| {
                let n = if delta > 0 {
                    callers.fetch_add(1, Ordering::AcqRel) + 1
                } else {
                    callers
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                            Some(n.saturating_sub(1))
                        })
                        .map(|n| n.saturating_sub(1))
                        .unwrap_or(0)
                };
                if let Some(obj) = weak.upgrade() {
                    let (state, reason) = if n > 0 {
                        (
                            ConnectionState::Connected,
                            format!("{n} caller(s) connected"),
                        )
                    } else {
                        (
                            ConnectionState::Connecting,
                            "waiting for a caller".to_string(),
                        )
                    };
                    obj.imp().connection_changed(state, 0, 0, &reason);
                }
                None
            });
        }
    }

    /// Starts the thread that follows the connection and the stats (READY→PAUSED).
    fn spawn_monitor(&self) {
        let mut state = lock(&self.state);
        let Some(s) = state.as_mut() else {
            return;
        };
        if s.monitor.is_some() {
            return;
        }
        match Monitor::spawn(self.obj().downgrade(), s.link.clone(), s.reconnect) {
            Ok(m) => s.monitor = Some(m),
            Err(e) => gst::warning!(
                CAT,
                imp = self,
                "no monitor thread (no reconnection, no stats messages): {e}"
            ),
        }
    }

    fn stop_monitor(&self) {
        let monitor = lock(&self.state).as_mut().and_then(|s| s.monitor.take());
        if let Some(m) = monitor {
            m.stop();
        }
    }

    fn stop(&self) {
        self.stop_monitor();
        let state = lock(&self.state).take();
        if let Some(pad) = self.video_pad.get() {
            let _ = pad.set_target(None::<&gst::Pad>);
        }
        self.audio_pad.set_target(None);
        if let Some(state) = state {
            for child in state.children.iter().rev() {
                // Locked first: a state change of the bin running meanwhile (a live `active` change
                // races with the pipeline's) must not bring it back up.
                child.set_locked_state(true);
                let _ = child.set_state(gst::State::Null);
                let _ = self.obj().remove(child);
            }
        }
        self.set_connection(ConnectionState::Disconnected);
    }

    /// `active` changed: when running, rebuild on another thread (never the application's or a
    /// streaming thread): the input is held (blocked) meanwhile, nothing upstream sees an error.
    fn schedule_active_change(&self) {
        if lock(&self.state).is_none() {
            return; // Not started: start() reads the setting.
        }
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new()
            .name("nvencstreamsink-active".into())
            .spawn(move || {
                if let Some(obj) = weak.upgrade() {
                    obj.imp().apply_active();
                }
            });
        if let Err(e) = spawned {
            gst::warning!(CAT, imp = self, "active change not applied: {e}");
        }
    }

    /// Stops what runs (closing the connection, removing the RTSP mount and freeing its port when it
    /// was the last) and builds it again for the new `active` value, while the inputs are blocked.
    fn apply_active(&self) {
        let _serial = lock(&self.toggling);
        let pads: Vec<gst::Pad> = self
            .video_pad
            .get()
            .map(|p| p.clone().upcast())
            .into_iter()
            .chain(self.audio_pad.get().map(|p| p.upcast()))
            .collect();
        let probes: Vec<(gst::Pad, gst::PadProbeId)> = pads
            .iter()
            .filter_map(|p| {
                p.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
                    gst::PadProbeReturn::Ok
                })
                .map(|id| (p.clone(), id))
            })
            .collect();
        if lock(&self.state).is_some() {
            self.stop();
            if self.start().is_ok() {
                let children = lock(&self.state)
                    .as_ref()
                    .map(|s| s.children.clone())
                    .unwrap_or_default();
                for child in &children {
                    let _ = child.sync_state_with_parent();
                }
                if self.obj().current_state() >= gst::State::Paused {
                    self.spawn_monitor();
                }
            }
        }
        for (pad, id) in probes {
            pad.remove_probe(id);
        }
        let active = lock(&self.settings).active;
        gst::info!(CAT, imp = self, "active={active} applied");
    }

    fn set_connection(&self, new: ConnectionState) {
        self.connection_changed(new, 0, 0, "");
    }

    /// Sets `connection-state`; on a change, notifies it and posts `nvencstreamsink-connection`.
    pub(super) fn connection_changed(
        &self,
        new: ConnectionState,
        attempt: u32,
        delay_ms: u64,
        reason: &str,
    ) {
        {
            let mut c = lock(&self.connection);
            if *c == new {
                return;
            }
            *c = new;
        }
        gst::debug!(CAT, imp = self, "connection-state {:?} {}", new, reason);
        self.obj().notify("connection-state");
        let msg = gst::message::Element::builder(
            gst::Structure::builder("nvencstreamsink-connection")
                .field("state", new)
                .field("attempt", attempt)
                .field("delay", delay_ms)
                .field("reason", reason)
                .build(),
        )
        .src(&*self.obj())
        .build();
        let _ = self.obj().post_message(msg);
    }

    /// An error from inside a restartable link goes to the monitor (which reconnects) instead of the
    /// application, as long as the reconnection policy allows it.
    fn to_monitor(&self, msg: &gst::Message, err: &glib::Error, debug: Option<&str>) -> bool {
        let state = lock(&self.state);
        let Some(state) = state.as_ref() else {
            return false;
        };
        let (Some(link), Some(monitor), Some(src)) = (&state.link, &state.monitor, msg.src())
        else {
            return false;
        };
        if !state.reconnect.enabled() || !link.contains(src) {
            return false;
        }
        let mut reason = own_words(err, debug);
        // The sink's own words for an authentication failure are often only in the debug text.
        if let Some(d) =
            debug.filter(|d| crate::reconnect::is_final(d) && !crate::reconnect::is_final(&reason))
        {
            reason = format!("{reason} ({})", d.lines().last().unwrap_or(d));
        }
        gst::info!(
            CAT,
            imp = self,
            "link error (handled): {}",
            state.redactor.redact(&reason)
        );
        monitor.failed(state.redactor.redact(&reason));
        true
    }

    /// mode=webrtc/whip: an error from inside the link after its stream ended or while the element goes
    /// down.
    fn closing_noise(&self, msg: &gst::Message) -> bool {
        let state = lock(&self.state);
        let Some(state) = state.as_ref() else {
            return false;
        };
        // WebRTC only: webrtcsink's signaller reports the WebSocket it closes itself as an error.
        if !matches!(state.mode, Mode::Webrtc | Mode::Whip) {
            return false;
        }
        let from_link = match (&state.link, msg.src()) {
            (Some(link), Some(src)) => link.contains(src),
            _ => false,
        };
        from_link
            && (state.link.as_ref().is_some_and(|l| l.ended())
                || self.tearing_down.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// "mode=rtmp to <url redacted>: <text>. Fix: …"
    fn network_text(&self, text: &str) -> String {
        let state = lock(&self.state);
        let Some(state) = state.as_ref() else {
            return text.to_string();
        };
        state.redactor.redact(&describe_network(state, text, text))
    }

    /// The link came up (again).
    pub(super) fn link_connected(&self, reconnected: bool, attempt: u32) {
        if reconnected {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            gst::info!(CAT, imp = self, "reconnected after {attempt} attempt(s)");
        }
        self.connection_changed(ConnectionState::Connected, attempt, 0, "");
    }

    pub(super) fn link_warning(&self, text: &str) {
        let text = self.network_text(&format!("connection lost: {text}"));
        gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", text));
    }

    /// The link is gone for good: `connection-state` failed and an ERROR for the application.
    pub(super) fn give_up(&self, text: &str) {
        let text = self.network_text(text);
        self.connection_changed(ConnectionState::Failed, 0, 0, &text);
        gst::element_imp_error!(self, gst::ResourceError::Write, ("{}", text));
    }

    /// Called by the monitor about ten times a second: rates, and the stats message when due.
    pub(super) fn tick(&self) {
        let now = std::time::Instant::now();
        let interval = match lock(&self.state).as_ref() {
            Some(s) => s.stats_interval,
            None => return,
        };
        let post = {
            let mut t = lock(&self.ticks);
            let bytes = self.counters.bytes_sent.load(Ordering::Relaxed);
            match t.bytes_at {
                Some((b, at)) if now.duration_since(at) >= std::time::Duration::from_secs(1) => {
                    let secs = now.duration_since(at).as_secs_f64();
                    let rate = (bytes.saturating_sub(b) as f64 * 8.0 / secs) as u64;
                    self.counters.bitrate.store(rate, Ordering::Relaxed);
                    t.bytes_at = Some((bytes, now));
                }
                Some(_) => {}
                None => t.bytes_at = Some((bytes, now)),
            }
            let due = !interval.is_zero()
                && t.posted_at
                    .is_none_or(|p| now.duration_since(p) >= interval);
            if due {
                t.posted_at = Some(now);
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

    fn force_idr(&self) {
        let encoder = lock(&self.state).as_ref().and_then(|s| s.encoder.clone());
        let Some(pad) = encoder.and_then(|e| e.static_pad("src")) else {
            gst::debug!(CAT, imp = self, "force-idr: not running");
            return;
        };
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        gst::debug!(CAT, imp = self, "force-idr");
        pad.send_event(event);
    }

    /// RTSP: the URL clients open (from the internal rtspsharedserver); RTMP/SRT: the destination,
    /// redacted.
    fn stream_url(&self) -> Option<String> {
        let state = lock(&self.state);
        let state = state.as_ref()?;
        if state.mode == Mode::RtspServer {
            state
                .network_sink
                .as_ref()
                .and_then(|s| s.property::<Option<String>>("url"))
        } else {
            Some(state.target_shown.clone())
        }
    }

    fn stats(&self) -> gst::Structure {
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
        let link = s.and_then(|s| s.link.clone());
        let sink = match &link {
            Some(l) => l.network_sink(),
            None => s.and_then(|s| s.network_sink.clone()),
        };
        let mode = s.map(|s| s.mode);
        drop(state);
        let buffered_ms = link
            .as_ref()
            .map(|l| l.buffered().as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        let (dropped, audio_dropped) = link
            .as_ref()
            .map(|l| (l.gate().video_dropped(), l.gate().audio_dropped()))
            .unwrap_or((0, 0));
        let loss = sink
            .as_ref()
            .map(crate::transport::stats::packet_loss_ratio)
            .unwrap_or(0.0);
        let clients = match (mode, &sink) {
            (Some(Mode::RtspServer), Some(sink)) if sink.find_property("stats").is_some() => sink
                .property::<gst::Structure>("stats")
                .get::<u32>("clients")
                .unwrap_or(0),
            _ => 0,
        };
        gst::Structure::builder("nvencstreamsink-stats")
            .field("connection-state", *lock(&self.connection))
            .field("encoder", encoder)
            .field("is-nvenc", is_nvenc)
            .field("fallback-reason", fallback)
            .field("last-encode-time", c.encode_time.last_ms())
            .field("last-send-delay", c.send_delay.last_ms() + buffered_ms)
            .field("packet-loss-ratio", loss)
            .field("bitrate", c.bitrate.load(Ordering::Relaxed))
            .field("frames-in", c.frames_in.load(Ordering::Relaxed))
            .field("frames-encoded", c.frames_encoded.load(Ordering::Relaxed))
            .field("frames-dropped", dropped)
            .field("audio-buffers-dropped", audio_dropped)
            .field("bytes-sent", c.bytes_sent.load(Ordering::Relaxed))
            .field("reconnects", c.reconnects.load(Ordering::Relaxed))
            .field("rtsp-clients", clients)
            .build()
    }

    /// Re-posts a child's error or warning with every secret removed and, for the network sink, the
    /// destination and a hint at the fix.
    fn rewrite(
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
        let from_network = match (msg.src(), state.network_sink.as_ref()) {
            (Some(src), _) if state.link.as_ref().is_some_and(|l| l.contains(src)) => true,
            (Some(src), Some(sink)) => src == sink.upcast_ref::<gst::Object>(),
            _ => false,
        };
        let mut text = err.message().to_string();
        if from_network {
            text = own_words(&err, debug.as_deref());
            let detail = format!("{text} {}", debug.as_deref().unwrap_or(""));
            text = describe_network(state, &text, &detail);
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
}

/// The same error domain and code with a new message.
/// An error's text; where it is GStreamer's generic one (webrtcsink's signalling errors), the element's
/// own words from the last line of the debug text instead.
fn own_words(err: &glib::Error, debug: Option<&str>) -> String {
    let text = err.message();
    match debug.and_then(|d| d.lines().last()) {
        Some(own) if text.starts_with("GStreamer encountered") && !own.trim().is_empty() => {
            own.trim().to_string()
        }
        _ => text.to_string(),
    }
}

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

fn secs(s: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 1.0e6)
    } else {
        0.0
    })
}

/// Counts the bytes that reach a network sink (on every sink pad: rtspsharedserver has `video` and
/// `audio`); without a link, the first ones also mean connected.
fn count_bytes(
    sink: &gst::Element,
    counters: &Arc<Counters>,
    connected: Option<glib::WeakRef<super::NvencStreamSink>>,
) {
    for pad in sink.sink_pads() {
        let c = Arc::clone(counters);
        let connected = connected.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let size = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => b.size(),
                    Some(gst::PadProbeData::BufferList(l)) => l.calculate_size(),
                    _ => 0,
                };
                if c.bytes_sent.fetch_add(size as u64, Ordering::Relaxed) == 0 {
                    if let Some(obj) = connected.as_ref().and_then(|w| w.upgrade()) {
                        obj.imp().set_connection(ConnectionState::Connected);
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
}

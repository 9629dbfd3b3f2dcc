use crate::sync::lock;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::plan::{self, Capabilities, Plan, Target};
use super::props::{self, Settings};
use super::{chain, ConnectionState, Mode};
use crate::encoder::select::{self, SelectError};
use crate::secrets::Redactor;
use crate::transport;

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
    network_sink: Option<gst::Element>,
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
        if transition == gst::StateChange::NullToReady {
            self.start()?;
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
            network_sink: None,
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
        *lock(&self.state) = Some(state);
        if settings.active {
            self.set_connection(ConnectionState::Connecting);
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

        let with_audio = audio_linked || plan.silent_audio;
        let transport = transport::build(plan, with_audio)
            .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        let transport_el: gst::Element = transport.bin.clone().upcast();
        self.add_child(&transport_el, state)?;
        state.network_sink = Some(transport.network_sink.clone());

        let video = chain::video(plan, &chosen, transport.video_caps.clone())
            .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        self.add_chain(&video, state)?;
        let link = |chain: &[gst::Element], pad: &str| -> Result<(), gst::StateChangeError> {
            let last = chain.last().ok_or(gst::StateChangeError)?;
            last.link_pads(Some("src"), &transport_el, Some(pad))
                .map_err(|e| {
                    self.fail(
                        gst::CoreError::Negotiation,
                        &format!("linking {pad} to the transport: {e}"),
                    )
                })
        };
        link(&video, "video")?;
        if let (Some(first), Some(pad)) = (video.first(), self.video_pad.get()) {
            if let Some(target) = first.static_pad("sink") {
                let _ = pad.set_target(Some(&target));
            }
        }

        if with_audio {
            let audio = chain::audio(plan, !audio_linked)
                .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
            self.add_chain(&audio, state)?;
            link(&audio, "audio")?;
            if !audio_linked {
                Self::end_with_video(&video, &audio);
            }
            if audio_linked {
                let pad = self.audio_pad.get();
                if let (Some(first), Some(pad)) = (audio.first(), pad) {
                    if let Some(target) = first.static_pad("sink") {
                        let _ = pad.set_target(Some(&target));
                    }
                }
            }
        }
        self.install_probes(&video, &chosen.element, &transport.network_sink);
        Ok(())
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

    fn install_probes(
        &self,
        video: &[gst::Element],
        encoder: &gst::Element,
        network: &gst::Element,
    ) {
        let counters = &self.counters;
        counters.frames_in.store(0, Ordering::Relaxed);
        counters.frames_encoded.store(0, Ordering::Relaxed);
        counters.bytes_sent.store(0, Ordering::Relaxed);
        if let Some(pad) = video.first().and_then(|q| q.static_pad("sink")) {
            let c = Arc::clone(counters);
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.frames_in.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        if let Some(pad) = encoder.static_pad("src") {
            let c = Arc::clone(counters);
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.frames_encoded.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        if let Some(pad) = network.static_pad("sink") {
            let c = Arc::clone(counters);
            let weak = self.obj().downgrade();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let size = match &info.data {
                        Some(gst::PadProbeData::Buffer(b)) => b.size(),
                        Some(gst::PadProbeData::BufferList(l)) => l.calculate_size(),
                        _ => 0,
                    };
                    if c.bytes_sent.fetch_add(size as u64, Ordering::Relaxed) == 0 {
                        if let Some(obj) = weak.upgrade() {
                            obj.imp().set_connection(ConnectionState::Connected);
                        }
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
    }

    fn stop(&self) {
        let state = lock(&self.state).take();
        if let Some(pad) = self.video_pad.get() {
            let _ = pad.set_target(None::<&gst::Pad>);
        }
        self.audio_pad.set_target(None);
        if let Some(state) = state {
            for child in state.children.iter().rev() {
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
            }
        }
        for (pad, id) in probes {
            pad.remove_probe(id);
        }
        let active = lock(&self.settings).active;
        gst::info!(CAT, imp = self, "active={active} applied");
    }

    fn set_connection(&self, new: ConnectionState) {
        {
            let mut c = lock(&self.connection);
            if *c == new {
                return;
            }
            *c = new;
        }
        gst::debug!(CAT, imp = self, "connection-state {:?}", new);
        self.obj().notify("connection-state");
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
        let (encoder, is_nvenc, fallback) = state
            .as_ref()
            .map(|s| {
                (
                    s.encoder_name.clone(),
                    s.is_nvenc,
                    s.fallback_reason.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        gst::Structure::builder("nvencstreamsink-stats")
            .field("encoder", encoder)
            .field("is-nvenc", is_nvenc)
            .field("fallback-reason", fallback)
            .field("frames-in", c.frames_in.load(Ordering::Relaxed))
            .field("frames-encoded", c.frames_encoded.load(Ordering::Relaxed))
            .field("bytes-sent", c.bytes_sent.load(Ordering::Relaxed))
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
            (Some(src), Some(sink)) => src == sink.upcast_ref::<gst::Object>(),
            _ => false,
        };
        let mut text = err.message().to_string();
        if from_network {
            let mode = if state.mode == Mode::Srt {
                "srt"
            } else {
                "rtmp"
            };
            text = format!("mode={mode} to {}: {text}", state.target_shown);
            let detail = format!("{text} {}", debug.as_deref().unwrap_or(""));
            if let Some(hint) = transport::explain(&detail) {
                text = format!("{text}. {hint}");
            }
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

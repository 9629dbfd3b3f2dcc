//! The `nvencstreamsink` element: properties, state changes, `active`. Building the inside is in
//! [`build`], what it reports (connection states, messages, stats, re-posted errors) in [`report`].

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock, Mutex};
use tdstream_common::sync::lock;

use super::plan;
use super::props::{self, Settings};
use super::timing::Stopwatch;
use super::ConnectionState;
use crate::destination::monitor::{Followed, Monitor};
use crate::destination::reconnect::Policy;
use crate::destination::Dest;
use crate::secrets::Redactor;
use crate::transport::Capabilities;

use super::CAT;

mod adapt;
mod build;
mod change;
mod connection_test;
mod report;

use report::{own_words, ElementReporter};

/// Counters updated from pad probes on the streaming threads.
#[derive(Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_encoded: AtomicU64,
    encode_time: Stopwatch,
    send_delay: Stopwatch,
}

/// Called with a buffer's timestamp (ns) at a measuring point.
type PtsHook = Box<dyn Fn(&Counters, u64) + Send + Sync>;

/// What exists while the element runs (NULL→READY … READY→NULL).
struct State {
    children: Vec<gst::Element>,
    encoder: Option<gst::Element>,
    encoder_name: String,
    is_nvenc: bool,
    fallback_reason: Option<String>,
    redactor: Redactor,
    /// The destinations, in the order of `destinations` (empty while `active` is false).
    dests: Vec<Arc<Dest>>,
    /// A `destinations` list: the tees that feed them, for destinations added while PLAYING.
    tees: Option<build::Tees>,
    /// The id of the next destination added.
    next_id: u32,
    monitor: Option<Monitor>,
    reconnect: Policy,
}

#[derive(Default)]
pub struct NvencStreamSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    connection: Mutex<ConnectionState>,
    counters: Arc<Counters>,
    video_pad: std::sync::OnceLock<gst::GhostPad>,
    audio_pad: tdstream_common::audiopad::AudioPad,
    /// Serialises `active` changes applied while running.
    toggling: Mutex<()>,
    /// Going down from PAUSED: what the network sink says while it closes is not news.
    tearing_down: std::sync::atomic::AtomicBool,
    /// When the last stats message was posted.
    posted_at: Mutex<Option<std::time::Instant>>,
    /// adaptive-bitrate, while running on an encoder that can change its bitrate.
    adaptive: Mutex<Option<adapt::Adaptive>>,
    /// The video bitrate the encoder aims at now (bit/s).
    target_bps: AtomicU64,
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
            vec![
                glib::subclass::Signal::builder("force-idr")
                    .action()
                    .class_handler(|args| {
                        if let Ok(obj) = args[0].get::<super::NvencStreamSink>() {
                            obj.imp().force_idr();
                        }
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("test-connection")
                    .action()
                    .return_type::<gst::Structure>()
                    .class_handler(|args| {
                        let obj = args[0].get::<super::NvencStreamSink>().ok()?;
                        Some(obj.imp().test_connection().to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        if pspec.name() == "url" || pspec.name() == "destinations" {
            gst::debug!(
                CAT,
                imp = self,
                "{} set (shown redacted once the stream starts)",
                pspec.name()
            );
        } else if pspec.name() != "rtmp-password" {
            gst::debug!(CAT, imp = self, "{} set", pspec.name());
        }
        let was_active = s.active;
        props::set(&mut s, pspec.name(), value);
        if pspec.name() == "active" && s.active != was_active {
            drop(s);
            self.schedule_active_change();
        } else if pspec.name() == "destinations" {
            drop(s);
            self.schedule_destinations_change();
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
                 RTMP or SRT (caller/listener/rendezvous); TouchDesigner's Video Stream Out TOP for GStreamer. \
                 Action signals: force-idr (the next picture is an IDR); test-connection (connects and \
                 publishes to each RTMP destination of url or destinations without streaming, meant before the \
                 stream starts: a server refuses a second publisher of a live stream; blocks up to 10 s per \
                 destination; returns a nvencstreamsink-connection-test structure, also posted as an element message: ok, \
                 and per destination url, transport, result ok/failed/untested, reason)",
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
        let mut result = self.parent_change_state(transition);
        if result.is_err()
            && matches!(
                transition,
                gst::StateChange::NullToReady | gst::StateChange::ReadyToPaused
            )
            && self.leave_out_unstarted()
        {
            // The destinations that could not start (a warning named each) are out: the rest start.
            result = self.parent_change_state(transition);
        }
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
        if matches!(msg.view(), gst::MessageView::Eos(_)) && self.link_eos(&msg) {
            return;
        }
        if let gst::MessageView::Error(e) = msg.view() {
            if self.closing_noise(&msg) {
                let text = own_words(&e.error(), e.debug().as_deref());
                gst::info!(
                    CAT,
                    imp = self,
                    "ignored while the stream ends: {}",
                    lock(&self.state)
                        .as_ref()
                        .map(|s| s.redactor.redact(&text))
                        .unwrap_or_default()
                );
                return;
            }
            if self.to_monitor(&msg, &e.error(), e.debug().as_deref()) {
                return;
            }
            if let Some(isolated) = self.isolate(&msg, &e.error(), e.debug().as_deref()) {
                if let Some(warning) = isolated {
                    self.parent_handle_message(warning);
                }
                return;
            }
        }
        let rewritten = match msg.view() {
            gst::MessageView::Error(e) => {
                self.set_all(ConnectionState::Failed);
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
        let shown: Vec<String> = plan
            .destinations
            .iter()
            .map(|p| p.destination.shown())
            .collect();
        if shown.len() == 1 {
            gst::info!(
                CAT,
                imp = self,
                "starting mode {:?} to {}",
                settings.mode,
                shown[0]
            );
        } else {
            gst::info!(
                CAT,
                imp = self,
                "starting {} destinations: {}",
                shown.len(),
                shown.join(" ")
            );
        }
        let audio_linked = self.audio_pad.get().as_ref().is_some_and(|p| p.is_linked());

        let mut state = State {
            children: Vec::new(),
            encoder: None,
            encoder_name: String::new(),
            is_nvenc: false,
            fallback_reason: None,
            redactor: plan.redactor.clone(),
            dests: Vec::new(),
            tees: None,
            next_id: 0,
            monitor: None,
            reconnect: Policy {
                attempts: settings.reconnect_attempts,
                interval: secs(settings.reconnect_interval),
                max_interval: secs(settings.reconnect_max_interval),
            },
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
        *lock(&self.posted_at) = None;
        *lock(&self.state) = Some(state);
        if settings.active {
            self.set_all(ConnectionState::Connecting);
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

    /// Starts the thread that follows the connection and the stats (READY→PAUSED).
    fn spawn_monitor(&self) {
        let mut state = lock(&self.state);
        let Some(s) = state.as_mut() else {
            return;
        };
        if s.monitor.is_some() {
            return;
        }
        let followed = s
            .dests
            .iter()
            .filter_map(|d| {
                d.link.clone().map(|link| Followed {
                    id: d.id,
                    link,
                    destination: Arc::clone(&d.destination),
                })
            })
            .collect();
        let reporter = Box::new(ElementReporter(self.obj().downgrade()));
        match Monitor::spawn(reporter, followed, s.reconnect) {
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
        self.set_all(ConnectionState::Disconnected);
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
        self.set_summary(ConnectionState::Disconnected);
    }

    /// `active` changed: when running, rebuild on another thread (never the application's or a
    /// streaming thread): the input is held (blocked) meanwhile, nothing upstream sees an error.
    fn schedule_active_change(&self) {
        self.on_helper_thread(
            "nvencstreamsink-active",
            "active change",
            Self::apply_active,
        );
    }

    /// Runs `f` on a thread of its own when the element runs (a change that rebuilds part of it never
    /// runs on the application's or a streaming thread); before the start, start() reads the settings.
    fn on_helper_thread(&self, name: &str, what: &str, f: fn(&Self)) {
        if lock(&self.state).is_none() {
            return;
        }
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if let Some(obj) = weak.upgrade() {
                    f(obj.imp());
                }
            });
        if let Err(e) = spawned {
            gst::warning!(CAT, imp = self, "{what} not applied: {e}");
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
}

fn secs(s: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 1.0e6)
    } else {
        0.0
    })
}

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtsp_server::prelude::*;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tdstream_common::sync::lock;

use crate::rtsp::feeder::{Feeder, Kind, AUDIO_SRC, VIDEO_SRC};
use crate::rtsp::registry::{self, Mount};

/// The category of everything the RTSP server plugin logs.
pub(crate) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtspsharedserver",
        gst::DebugColorFlags::empty(),
        Some("tdstream shared RTSP server"),
    )
});

const DEFAULT_PORT: u32 = 8554;
const DEFAULT_ADDRESS: &str = "0.0.0.0";
const DEFAULT_STREAM_NAME: &str = "stream";
/// At most this long, the end of the stream waits for queued frames to reach the clients.
const EOS_LINGER: std::time::Duration = std::time::Duration::from_millis(500);
const DEFAULT_RANGE: &str = "239.255.42.0-239.255.42.255";
const DEFAULT_KEYFRAME_MIN_INTERVAL: u32 = 500;
const DEFAULT_SESSION_TIMEOUT: u32 = 60;

#[derive(Debug, Clone)]
struct Settings {
    port: u32,
    address: String,
    stream_name: String,
    multicast: bool,
    multicast_range: String,
    auth_users: Option<String>,
    keyframe_min_interval: u32,
    tls_certificate: Option<String>,
    session_timeout: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: DEFAULT_PORT,
            address: DEFAULT_ADDRESS.into(),
            stream_name: DEFAULT_STREAM_NAME.into(),
            multicast: false,
            multicast_range: DEFAULT_RANGE.into(),
            auth_users: None,
            keyframe_min_interval: DEFAULT_KEYFRAME_MIN_INTERVAL,
            tls_certificate: None,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
        }
    }
}

struct State {
    settings: Settings,
    users: Vec<(String, String)>,
    mount: Mount,
    feeder: Arc<Feeder>,
    url: String,
    video_sink: gst_app::AppSink,
    audio_sink: Option<gst_app::AppSink>,
    published: bool,
    client_handler: Option<glib::SignalHandlerId>,
}

#[derive(Default)]
pub struct RtspSharedServer {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    video_pad: std::sync::OnceLock<gst::GhostPad>,
    audio_pad: tdstream_common::audiopad::AudioPad,
}

#[glib::object_subclass]
impl ObjectSubclass for RtspSharedServer {
    const NAME: &'static str = "GstRtspSharedServer";
    type Type = super::RtspSharedServer;
    type ParentType = gst::Bin;
}

impl ObjectImpl for RtspSharedServer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("port")
                    .nick("Network Port")
                    .blurb("TCP port of the RTSP server; every rtspsharedserver on the same address and port shares one server")
                    .minimum(1)
                    .maximum(65535)
                    .default_value(DEFAULT_PORT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("address")
                    .nick("Address")
                    .blurb("Address to listen on; 0.0.0.0 = all IPv4 interfaces")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("stream-name")
                    .nick("Stream Name")
                    .blurb("Mount name: clients open rtsp://host:port/<stream-name> (letters, digits, - _ . ~)")
                    .default_value(Some(DEFAULT_STREAM_NAME))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("url")
                    .nick("URL")
                    .blurb("The stream's URL for clients, with this host's address when listening on all interfaces (read-only; set once the element starts; clients get 404 until the rtspsharedserver-mount message says the mount is live)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("multicast")
                    .nick("Multi-Cast")
                    .blurb("Also offer multicast UDP (addresses from multicast-range); unicast UDP and TCP stay available")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("multicast-range")
                    .nick("Multicast Range")
                    .blurb("Multicast addresses for multicast=true, as first-last")
                    .default_value(Some(DEFAULT_RANGE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("auth-users")
                    .nick("Authorized Users")
                    .blurb("user:password[,user:password...] allowed to play this stream (RTSP Basic or Digest); empty = anyone. Write-only, never logged")
                    .write_only()
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("keyframe-min-interval")
                    .nick("Keyframe Min Interval")
                    .blurb("Minimum time between IDRs requested for joining clients (ms); requests in between are merged into one")
                    .maximum(60_000)
                    .default_value(DEFAULT_KEYFRAME_MIN_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("session-timeout")
                    .nick("Session Timeout")
                    .blurb("Seconds without keep-alive (RTCP or RTSP) after which a vanished client's session is dropped; a port uses the smallest value of its streams")
                    .minimum(1)
                    .maximum(3600)
                    .default_value(DEFAULT_SESSION_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("tls-certificate")
                    .nick("TLS Certificate")
                    .blurb("PEM file with the certificate and its private key: serve RTSPS (rtsps://) on this port; empty = plain RTSP. All streams on a port must agree")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Read-only: medias (shared medias fed: 1 once the mount is live, prepared before the first client), buffers-pushed (into medias), sessions (client sessions on this port), clients (sessions playing this mount), packet-loss-ratio (0..1, the worst fraction lost in the clients' RTCP receiver reports)")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let string = || value.get::<Option<String>>().ok().flatten();
        match pspec.name() {
            "port" => s.port = value.get().unwrap_or(DEFAULT_PORT),
            "address" => s.address = string().unwrap_or_else(|| DEFAULT_ADDRESS.into()),
            "stream-name" => s.stream_name = string().unwrap_or_default(),
            "multicast" => s.multicast = value.get().unwrap_or(false),
            "multicast-range" => {
                s.multicast_range = string().unwrap_or_else(|| DEFAULT_RANGE.into())
            }
            "auth-users" => s.auth_users = string().filter(|u| !u.is_empty()),
            "tls-certificate" => s.tls_certificate = string().filter(|p| !p.is_empty()),
            "session-timeout" => s.session_timeout = value.get().unwrap_or(DEFAULT_SESSION_TIMEOUT),
            "keyframe-min-interval" => {
                s.keyframe_min_interval = value.get().unwrap_or(DEFAULT_KEYFRAME_MIN_INTERVAL)
            }
            _ => {}
        }
        gst::debug!(CAT, imp = self, "{} set", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "port" => s.port.to_value(),
            "address" => s.address.to_value(),
            "stream-name" => s.stream_name.to_value(),
            "url" => lock(&self.state)
                .as_ref()
                .map(|st| st.url.clone())
                .to_value(),
            "multicast" => s.multicast.to_value(),
            "multicast-range" => s.multicast_range.to_value(),
            "keyframe-min-interval" => s.keyframe_min_interval.to_value(),
            "tls-certificate" => s.tls_certificate.to_value(),
            "session-timeout" => s.session_timeout.to_value(),
            "stats" => {
                let state = lock(&self.state);
                let (medias, pushed, sessions, clients, loss) = state
                    .as_ref()
                    .map(|st| {
                        let sessions = st
                            .mount
                            .server()
                            .server()
                            .session_pool()
                            .map_or(0, |p| p.n_sessions());
                        (
                            st.feeder.medias() as u32,
                            st.feeder.pushed(),
                            sessions,
                            st.mount.clients(),
                            st.mount.receiver_loss(),
                        )
                    })
                    .unwrap_or_default();
                gst::Structure::builder("rtspsharedserver-stats")
                    .field("medias", medias)
                    .field("buffers-pushed", pushed)
                    .field("sessions", sessions)
                    .field("clients", clients)
                    .field("packet-loss-ratio", loss)
                    .build()
                    .to_value()
            }
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_element_flags(gst::ElementFlags::SINK);
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

impl GstObjectImpl for RtspSharedServer {}

impl ElementImpl for RtspSharedServer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Shared RTSP Server Sink",
                "Sink/Network/Video/Audio",
                "Serves encoded H.264/H.265/AV1 video and AAC/MP3/Opus audio at rtsp://host:port/<stream-name>; \
                 all instances on one port share one RTSP server, every stream is encoded once for all clients",
                "tdstream developers",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst::Caps::builder_full()
                .structure(gst::Structure::new_empty("video/x-h264"))
                .structure(gst::Structure::new_empty("video/x-h265"))
                .structure(gst::Structure::new_empty("video/x-av1"))
                .build();
            let audio = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("audio/mpeg")
                        .field("mpegversion", gst::List::new([1i32, 2, 4]))
                        .build(),
                )
                .structure(gst::Structure::new_empty("audio/x-opus"))
                .build();
            [
                gst::PadTemplate::new(
                    "video",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &video,
                ),
                gst::PadTemplate::new(
                    "audio",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &audio,
                ),
            ]
            .into_iter()
            .filter_map(Result::ok)
            .collect()
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
        t: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if t == gst::StateChange::NullToReady {
            self.start()?;
        }
        let result = self.parent_change_state(t);
        if (result.is_err() && t == gst::StateChange::NullToReady)
            || t == gst::StateChange::ReadyToNull
        {
            self.stop();
        }
        result
    }
}

impl BinImpl for RtspSharedServer {}

impl RtspSharedServer {
    fn fail(&self, text: &str) -> gst::StateChangeError {
        gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ("{}", text));
        gst::StateChangeError
    }

    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = lock(&self.settings).clone();
        tdstream_common::rtsp::validate_stream_name(&settings.stream_name)
            .map_err(|e| self.fail(&e))?;
        let users =
            tdstream_common::rtsp::parse_users(settings.auth_users.as_deref().unwrap_or(""))
                .map_err(|e| self.fail(&e))?;
        if settings.multicast {
            tdstream_common::rtsp::parse_range(&settings.multicast_range)
                .map_err(|e| self.fail(&e))?;
        }
        let port = u16::try_from(settings.port).unwrap_or(DEFAULT_PORT as u16);
        let server =
            registry::acquire(&settings.address, port, settings.tls_certificate.as_deref())
                .map_err(|e| self.fail(&e.to_string()))?;
        let mount = server
            .reserve(&settings.stream_name)
            .map_err(|e| self.fail(&e.to_string()))?;
        let feeder = Feeder::new(
            server.context().clone(),
            Duration::from_millis(settings.keyframe_min_interval as u64),
        );
        let host = tdstream_common::rtsp::host_for_url(&settings.address);
        let url = tdstream_common::rtsp::mount_url(
            settings.tls_certificate.is_some(),
            &host,
            port,
            &settings.stream_name,
        );

        let video_sink = self
            .make_sink("video-sink", Kind::Video, &feeder)
            .map_err(|e| self.fail(&e))?;
        if let (Some(pad), Some(target)) = (self.video_pad.get(), video_sink.static_pad("sink")) {
            let _ = pad.set_target(Some(&target));
            feeder.set_keyframe_pad(&target);
        }
        let audio_pad = self.audio_pad.get();
        let audio_sink = match audio_pad {
            Some(pad) => {
                let sink = self
                    .make_sink("audio-sink", Kind::Audio, &feeder)
                    .map_err(|e| self.fail(&e))?;
                if let Some(target) = sink.static_pad("sink") {
                    let _ = pad.set_target(Some(&target));
                }
                Some(sink)
            }
            None => None,
        };

        // Joining clients of this mount get an IDR (rate-limited in the feeder).
        let path = mount.path();
        let weak_feeder = Arc::downgrade(&feeder);
        let session_timeout = settings.session_timeout;
        let client_handler = server.server().connect_client_connected(move |_, client| {
            client.connect_new_session(move |_, session| {
                let t = session.timeout().min(session_timeout);
                session.set_timeout(t);
            });
            let weak = weak_feeder.clone();
            let path = path.clone();
            client.connect_play_request(move |_, ctx| {
                let ours = ctx.uri().is_some_and(|u| {
                    let uri = u.request_uri();
                    uri.ends_with(&path) || uri.contains(&format!("{path}/"))
                });
                if let (true, Some(f)) = (ours, weak.upgrade()) {
                    f.request_keyframe();
                }
            });
        });

        gst::info!(CAT, imp = self, "reserved {url}");
        *lock(&self.state) = Some(State {
            settings,
            users,
            mount,
            feeder,
            url,
            video_sink,
            audio_sink,
            published: false,
            client_handler: Some(client_handler),
        });
        self.obj().notify("url");
        Ok(())
    }

    fn make_sink(
        &self,
        name: &str,
        kind: Kind,
        feeder: &Arc<Feeder>,
    ) -> Result<gst_app::AppSink, String> {
        let sink = gst_app::AppSink::builder()
            .name(name)
            .sync(false)
            .async_(false)
            .build();
        let f = Arc::clone(feeder);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(buffer) = sample.buffer_owned() {
                        f.push(kind, &buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        // Caps: remember them, and publish the mount once every input has them.
        let weak = self.obj().downgrade();
        let f = Arc::clone(feeder);
        if let Some(pad) = sink.static_pad("sink") {
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                    match ev.view() {
                        gst::EventView::Caps(c) => {
                            f.set_caps(kind, &c.caps_owned());
                            if let Some(obj) = weak.upgrade() {
                                obj.imp().maybe_publish();
                            }
                        }
                        // Hold EOS until the medias sent what they have (bounded).
                        gst::EventView::Eos(_) => f.drain(EOS_LINGER),
                        _ => {}
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
        self.obj().add(&sink).map_err(|e| e.to_string())?;
        Ok(sink)
    }

    /// Builds the media factory from the known caps and adds the mount; posts the URL on the bus.
    fn maybe_publish(&self) {
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else { return };
        if state.published {
            return;
        }
        let Some(video_caps) = state.feeder.caps(Kind::Video) else {
            return;
        };
        let audio_caps = match &state.audio_sink {
            Some(_) => match state.feeder.caps(Kind::Audio) {
                Some(c) => Some(c),
                None => return,
            },
            None => None,
        };
        let launch = match launch_line(&video_caps, audio_caps.as_ref()) {
            Ok(l) => l,
            Err(e) => {
                drop(guard);
                gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
                return;
            }
        };
        gst::debug!(CAT, imp = self, "media: {launch}");
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&launch);
        factory.set_shared(true);
        factory.set_suspend_mode(gst_rtsp_server::RTSPSuspendMode::None);
        let mut protocols = gst_rtsp::RTSPLowerTrans::UDP | gst_rtsp::RTSPLowerTrans::TCP;
        if state.settings.multicast {
            if let Ok((first, last)) =
                tdstream_common::rtsp::parse_range(&state.settings.multicast_range)
            {
                let pool = gst_rtsp_server::RTSPAddressPool::new();
                let _ = pool.add_range(&first.to_string(), &last.to_string(), 5000, 5999, 16);
                factory.set_address_pool(Some(&pool));
                protocols |= gst_rtsp::RTSPLowerTrans::UDP_MCAST;
            }
        }
        factory.set_protocols(protocols);
        let feeder = Arc::downgrade(&state.feeder);
        factory.connect_media_configure(move |_, media| {
            if let Some(f) = feeder.upgrade() {
                f.attach(media);
            }
        });
        let users = state.users.clone();
        let url = state.url.clone();
        let (name, port) = (state.settings.stream_name.clone(), state.settings.port);
        let weak = self.obj().downgrade();
        // The mount is live (and announced) once its shared media is prepared.
        state.mount.publish(&factory, &users, move |outcome| {
            if let Some(obj) = weak.upgrade() {
                obj.imp().announce(outcome, &url, &name, port);
            }
        });
        state.published = true;
    }

    fn announce(&self, outcome: Result<(), String>, url: &str, name: &str, port: u32) {
        if let Err(e) = outcome {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Failed,
                (
                    "stream-name '{}' on port {}: its RTSP media could not be prepared: {}",
                    name,
                    port,
                    e
                )
            );
            return;
        }
        gst::info!(CAT, imp = self, "serving {url}");
        let s = gst::Structure::builder("rtspsharedserver-mount")
            .field("url", url)
            .field("stream-name", name)
            .field("port", port)
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    fn stop(&self) {
        let state = lock(&self.state).take();
        if let Some(pad) = self.video_pad.get() {
            let _ = pad.set_target(None::<&gst::Pad>);
        }
        self.audio_pad.set_target(None);
        if let Some(mut state) = state {
            state.feeder.shutdown();
            if let Some(id) = state.client_handler.take() {
                state.mount.server().server().disconnect(id);
            }
            for sink in std::iter::once(state.video_sink.clone()).chain(state.audio_sink.clone()) {
                let _ = sink.set_state(gst::State::Null);
                let _ = self.obj().remove(&sink);
            }
            // Dropping the mount removes it; dropping the last one stops the server.
            drop(state);
        }
    }
}

/// `( appsrc ! parser ! payloader name=pay0 [appsrc ! parser ! payloader name=pay1] )` for the caps.
fn launch_line(video: &gst::Caps, audio: Option<&gst::Caps>) -> Result<String, String> {
    let part = |caps: &gst::Caps, src: &str, pay: &str, pt: u32| -> Result<String, String> {
        let s = caps.structure(0).ok_or("empty caps")?;
        let (parser, payloader) = tdstream_common::rtsp::payloader_for(s.name(), s.get::<i32>("mpegversion").ok())
            .ok_or_else(|| format!("caps {} cannot be served over RTSP: no payloader for them. Fix: send H.264, H.265, AV1, AAC, MP3 or Opus", s.name()))?;
        let factory = payloader.split_whitespace().next().unwrap_or(payloader);
        if gst::ElementFactory::find(factory).is_none() {
            return Err(format!(
                "caps {} cannot be served over RTSP here: the payloader {factory} is not installed \
                 (GStreamer 1.22 has no AV1 RTP payloader; gst-plugins-rs rtpav1pay provides one). Fix: send H.264 or H.265",
                s.name()
            ));
        }
        Ok(format!(
            "appsrc name={src} is-live=true format=time do-timestamp=true leaky-type=downstream max-bytes=4000000 \
             ! {parser} ! {payloader} name={pay} pt={pt}"
        ))
    };
    let mut line = format!("( {}", part(video, VIDEO_SRC, "pay0", 96)?);
    if let Some(a) = audio {
        line.push_str(&format!(" {}", part(a, AUDIO_SRC, "pay1", 97)?));
    }
    line.push_str(" )");
    Ok(line)
}

//! Shared media: one encoded stream feeds every RTSP media built for a mount.
//!
//! gst-rtsp-server builds a media (appsrc ! parser ! payloader) when the first client of a mount
//! arrives and tears it down when the last one leaves; every client in between shares it. The feeder
//! keeps the appsrcs of the live medias and pushes each encoded buffer into them (sharing the memory,
//! never copying the picture). Timestamps are cleared and re-stamped by the media's appsrc
//! (`do-timestamp`), because each media has its own clock and base time.

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tdstream_common::sync::lock;

use super::{KeyframeAction, KeyframeLimiter};

const DRAIN_POLL: Duration = Duration::from_millis(5);
const DRAIN_TAIL: Duration = Duration::from_millis(100);

pub const VIDEO_SRC: &str = "vsrc";
pub const AUDIO_SRC: &str = "asrc";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Video,
    Audio,
}

struct Attached {
    media: glib::WeakRef<gst_rtsp_server::RTSPMedia>,
    video: Option<gst_app::AppSrc>,
    audio: Option<gst_app::AppSrc>,
}

pub struct Feeder {
    attached: Mutex<Vec<Attached>>,
    caps: Mutex<(Option<gst::Caps>, Option<gst::Caps>)>,
    keyframes: Mutex<KeyframeLimiter>,
    /// Where a force-key-unit goes upstream (the element's video input).
    keyframe_pad: Mutex<Option<glib::WeakRef<gst::Pad>>>,
    /// The RTSP server's context, for deferred keyframe requests.
    context: glib::MainContext,
    /// Buffers pushed into medias, for tests and stats.
    pushed: std::sync::atomic::AtomicU64,
}

impl Feeder {
    pub fn new(context: glib::MainContext, keyframe_interval: Duration) -> Arc<Feeder> {
        Arc::new(Feeder {
            attached: Mutex::new(Vec::new()),
            caps: Mutex::new((None, None)),
            keyframes: Mutex::new(KeyframeLimiter::new(keyframe_interval)),
            keyframe_pad: Mutex::new(None),
            context,
            pushed: Default::default(),
        })
    }

    pub fn set_keyframe_pad(&self, pad: &gst::Pad) {
        *lock(&self.keyframe_pad) = Some(pad.downgrade());
    }

    pub fn set_caps(&self, kind: Kind, caps: &gst::Caps) {
        let mut c = lock(&self.caps);
        match kind {
            Kind::Video => c.0 = Some(caps.clone()),
            Kind::Audio => c.1 = Some(caps.clone()),
        }
        for a in lock(&self.attached).iter() {
            let src = if kind == Kind::Video {
                &a.video
            } else {
                &a.audio
            };
            if let Some(src) = src {
                src.set_caps(Some(caps));
            }
        }
    }

    pub fn caps(&self, kind: Kind) -> Option<gst::Caps> {
        let c = lock(&self.caps);
        match kind {
            Kind::Video => c.0.clone(),
            Kind::Audio => c.1.clone(),
        }
    }

    pub fn medias(&self) -> usize {
        lock(&self.attached).len()
    }

    pub fn pushed(&self) -> u64 {
        self.pushed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A media was built for a new first client: feed its appsrcs from now on.
    pub fn attach(self: &Arc<Self>, media: &gst_rtsp_server::RTSPMedia) {
        let Some(bin) = media.element().downcast::<gst::Bin>().ok() else {
            return;
        };
        let find = |name: &str| {
            bin.by_name_recurse_up(name)
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        };
        let (video, audio) = (find(VIDEO_SRC), find(AUDIO_SRC));
        {
            let caps = lock(&self.caps);
            if let (Some(src), Some(c)) = (&video, &caps.0) {
                src.set_caps(Some(c));
            }
            if let (Some(src), Some(c)) = (&audio, &caps.1) {
                src.set_caps(Some(c));
            }
        }
        lock(&self.attached).push(Attached {
            media: media.downgrade(),
            video,
            audio,
        });
        let weak = Arc::downgrade(self);
        media.connect_unprepared(move |media| {
            if let Some(f) = weak.upgrade() {
                f.detach(media);
            }
        });
        self.request_keyframe();
    }

    /// The stream ends: end every media's input, so that no media waits for data that will not come
    /// (a media being prepared would otherwise hold the server thread).
    pub fn shutdown(&self) {
        for a in lock(&self.attached).drain(..) {
            for src in a.video.iter().chain(a.audio.iter()) {
                let _ = src.end_of_stream();
            }
        }
    }

    /// The stream ends: give what is still queued in the medias' inputs a moment to go out before
    /// the element stops and the mount closes (up to `max`), so the last frames reach the clients.
    pub fn drain(&self, max: Duration) {
        let deadline = Instant::now() + max;
        loop {
            let queued: u64 = lock(&self.attached)
                .iter()
                .flat_map(|a| a.video.iter().chain(a.audio.iter()))
                .map(|src| src.current_level_bytes())
                .sum();
            if queued == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(DRAIN_POLL);
        }
        // The payloaders and the network sinks behind the queues.
        std::thread::sleep(DRAIN_TAIL.min(deadline.saturating_duration_since(Instant::now())));
    }

    pub fn detach(&self, media: &gst_rtsp_server::RTSPMedia) {
        lock(&self.attached).retain(|a| a.media.upgrade().is_some_and(|m| &m != media));
    }

    /// Pushes one encoded buffer into every live media. Never blocks: a media that cannot take it
    /// (its appsrc queue is full) loses this buffer, the others do not.
    pub fn push(&self, kind: Kind, buffer: &gst::Buffer) {
        let mut attached = lock(&self.attached);
        attached.retain(|a| a.media.upgrade().is_some());
        for a in attached.iter() {
            let src = if kind == Kind::Video {
                &a.video
            } else {
                &a.audio
            };
            let Some(src) = src else { continue };
            // A prepared media that nobody plays yet holds its first buffer (the preroll) at a blocked
            // pad: what we pushed now would queue up and reach its first client seconds late. (Not
            // media.status(): it waits while the media prepares, which needs these very buffers.)
            // Each stream on its own: the media is prepared only once every stream has blocked, so
            // a video stream that blocked first must not starve the audio one (pay0 is the video,
            // pay1 the audio; with audio, this deadlock left most RTSP clients without an answer to
            // DESCRIBE).
            let Some(media) = a.media.upgrade() else {
                continue;
            };
            let index = if kind == Kind::Video { 0 } else { 1 };
            if media.stream(index).is_some_and(|s| s.is_blocking()) {
                continue;
            }
            // Only while the media plays: it is PLAYING while it prepares (live media) and after a
            // client's PLAY. Buffers stamped while it is paused would carry the old base time and
            // go backwards once it resumes.
            if src.current_state() != gst::State::Playing {
                continue;
            }
            let mut b = buffer.copy();
            {
                let b = b.make_mut();
                b.set_pts(gst::ClockTime::NONE);
                b.set_dts(gst::ClockTime::NONE);
            }
            if src.push_buffer(b).is_ok() {
                self.pushed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// A client started playing: ask the encoder for an IDR (rate-limited, coalesced).
    pub fn request_keyframe(self: &Arc<Self>) {
        let action = lock(&self.keyframes).request(Instant::now());
        match action {
            KeyframeAction::SendNow => self.send_keyframe(),
            KeyframeAction::Coalesced => {}
            KeyframeAction::SendAfter(delay) => {
                let weak = Arc::downgrade(self);
                let source =
                    glib::timeout_source_new(delay, None, glib::Priority::DEFAULT, move || {
                        if let Some(f) = weak.upgrade() {
                            lock(&f.keyframes).fired(Instant::now());
                            f.send_keyframe();
                        }
                        glib::ControlFlow::Break
                    });
                source.attach(Some(&self.context));
            }
        }
    }

    fn send_keyframe(&self) {
        let pad = lock(&self.keyframe_pad).as_ref().and_then(|w| w.upgrade());
        if let Some(pad) = pad {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            pad.push_event(event);
        }
    }
}

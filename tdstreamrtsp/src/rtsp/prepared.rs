//! A mount's shared media, built and prepared once, when the mount is published.
//!
//! Left to gst-rtsp-server, the media of a shared mount is built and prepared by its first client and
//! torn down after its last, with the media's bus handled by a thread from the server's GThreadPool.
//! Two mounts joined at the same instant could then leave one client waiting in
//! `gst_rtsp_media_prepare` for a pool thread that never ran (docs/FINDINGS.md). Preparing the media
//! up front, on a main loop this module owns, removes that race and makes every client's start a
//! join: the factory hands each client the prepared media, and the client's pool thread is not used.

use gst_rtsp_server::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tdstream_common::sync::lock;

const LOOP_START: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Slot {
    media: Option<gst_rtsp_server::RTSPMedia>,
    /// The mount went away: a media that finishes preparing now is unprepared at once.
    dropped: bool,
}

/// Holds the prepared media while the mount exists; unprepares it when dropped.
pub struct PreparedMedia {
    slot: Arc<Mutex<Slot>>,
}

impl PreparedMedia {
    /// Builds the factory's media for `url` (the key clients of the mount will look it up by) and
    /// prepares it on a new thread, without blocking the caller (a streaming thread, whose buffers
    /// the preparation waits for). `on_ready` gets the outcome.
    pub fn start(
        factory: &gst_rtsp_server::RTSPMediaFactory,
        url: &str,
        on_ready: impl FnOnce(Result<(), String>) + Send + 'static,
    ) -> PreparedMedia {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let (factory, url, s) = (factory.clone(), url.to_string(), Arc::clone(&slot));
        let spawned = std::thread::Builder::new()
            .name("rtsp-prepare".into())
            .spawn(move || on_ready(prepare(&factory, &url, &s)));
        if let Err(e) = spawned {
            // Clients then build the media themselves, as gst-rtsp-server does by default.
            gst::warning!(
                crate::rtspsharedserver::imp::CAT,
                "cannot start the media preparation thread: {e}"
            );
        }
        PreparedMedia { slot }
    }
}

impl PreparedMedia {
    /// The media, once prepared.
    pub fn media(&self) -> Option<gst_rtsp_server::RTSPMedia> {
        lock(&self.slot).media.clone()
    }
}

fn prepare(
    factory: &gst_rtsp_server::RTSPMediaFactory,
    url: &str,
    slot: &Mutex<Slot>,
) -> Result<(), String> {
    let (_, parsed) = gst_rtsp::RTSPUrl::parse(url);
    let parsed = parsed.ok_or_else(|| format!("cannot parse {url}"))?;
    let media = factory.construct(&parsed).map_err(|e| e.to_string())?;
    let thread = gst_rtsp_server::RTSPThread::new(gst_rtsp_server::RTSPThreadType::Media)
        .ok_or("cannot make a media thread")?;
    // The media's bus is handled on this thread's loop; unprepare stops the loop and ends the thread.
    let (context, main_loop) = (thread.context(), thread.loop_());
    let (tx, rx) = std::sync::mpsc::channel();
    context.invoke(move || {
        let _ = tx.send(());
    });
    std::thread::Builder::new()
        .name("rtsp-media".into())
        .spawn(move || {
            let _ = context.with_thread_default(|| main_loop.run());
        })
        .map_err(|e| e.to_string())?;
    rx.recv_timeout(LOOP_START)
        .map_err(|_| "the media thread did not start".to_string())?;
    media.prepare(Some(thread)).map_err(|e| e.to_string())?;
    let mut s = lock(slot);
    if s.dropped {
        let _ = media.unprepare();
    } else {
        s.media = Some(media);
    }
    Ok(())
}

impl Drop for PreparedMedia {
    fn drop(&mut self) {
        let media = {
            let mut s = lock(&self.slot);
            s.dropped = true;
            s.media.take()
        };
        if let Some(media) = media {
            let _ = media.unprepare();
        }
    }
}

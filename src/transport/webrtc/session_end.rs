//! Ending a WHIP session without aborting the process.
//!
//! gst-plugins-rs 0.15's WHIP client signaller ends a session (the DELETE request on the endpoint's
//! resource) in `utils::wait()`, which calls `RUNTIME.block_on` on the plugin's tokio runtime. When
//! webrtcsink ends the session from a task on that runtime (a session whose DTLS handshake failed, its
//! `start_session` task), that thread is a runtime worker: tokio panics ("Cannot start a runtime from
//! within a runtime") inside a GLib signal handler, which cannot unwind, and the process aborts
//! (gst-plugins-rs commit 1c2ac918e, MR !2835, in 0.14.5 and 0.15.0+; docs/FINDINGS.md).
//!
//! webrtcsink ends a session by emitting the signaller's `end-session`, a run-last signal whose first
//! handler wins: a handler of ours runs before the signaller's own (the class handler) and stops the
//! emission. It then emits `end-session` again with itself blocked, so that the signaller's own handler
//! runs: on the calling thread as before, or, on a tokio worker thread, on a thread of its own (the
//! worker is then free to drive the DELETE request's I/O).

use gst::glib;
use gst::prelude::*;
use std::sync::{Arc, Mutex, OnceLock};

/// How the names tokio gives its runtime's threads start (gst-plugins-rs' RUNTIME sets none):
/// `tokio-runtime-worker` up to tokio 1.4x, `tokio-rt-worker` in 1.54. A name, not
/// `tokio::runtime::Handle::try_current()`: that runtime's tokio is the WebRTC plugin's own copy, whose
/// thread-locals this library cannot see.
const TOKIO_THREAD: &str = "tokio-";

/// Installs the handler on whipclientsink's signaller.
pub fn end_sessions_off_the_runtime(sink: &gst::Element) {
    let signaller = sink.property::<glib::Object>("signaller");
    if glib::subclass::signal::SignalId::lookup("end-session", signaller.type_()).is_none() {
        return;
    }
    let handler: Arc<OnceLock<glib::SignalHandlerId>> = Arc::new(OnceLock::new());
    // One re-emission at a time: the handler is blocked for the instance while one runs.
    let serial = Arc::new(Mutex::new(()));
    // The signaller is reached through its sink on the ending thread (a plain GObject is not Send).
    let sink = sink.downgrade();
    let id = {
        let handler = Arc::clone(&handler);
        signaller.connect("end-session", false, move |args| {
            let session = args.get(1).and_then(|v| v.get::<String>().ok());
            let (handler, serial, sink) = (Arc::clone(&handler), Arc::clone(&serial), sink.clone());
            let end = move || {
                let (Some(session), Some(sink), Some(id)) =
                    (session, sink.upgrade(), handler.get())
                else {
                    return;
                };
                let _one = tdstream_common::sync::lock(&serial);
                let signaller = sink.property::<glib::Object>("signaller");
                signaller.block_signal(id);
                signaller.emit_by_name::<bool>("end-session", &[&session]);
                signaller.unblock_signal(id);
            };
            if on_tokio_worker() {
                let spawned = std::thread::Builder::new()
                    .name("tdstream-whip-end".into())
                    .spawn(end);
                if spawned.is_err() {
                    // No thread: the endpoint is not told (its resource times out there), which is
                    // better than aborting.
                    gst::warning!(super::CAT, "cannot end the WHIP session: no thread for it");
                }
            } else {
                end();
            }
            Some(false.to_value())
        })
    };
    let _ = handler.set(id);
}

fn on_tokio_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with(TOKIO_THREAD))
}

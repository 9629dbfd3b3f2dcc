//! A restartable network link: an outer bin whose `video`/`audio` pads stay put for the whole run, and
//! an inner bin (muxer → buffer → network sink) that is torn down and built again when the connection
//! drops. A [`Gate`] on the outer pads drops what the link cannot take, so upstream never waits.
//!
//! ```text
//! outer: video ─(gate)─┐ inner: mux ─ queue ─ rtmp2sink / srtsink
//!        audio ─(gate)─┘
//! ```

use gst::prelude::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::gate::{Gate, GateMode, Stream};
use crate::transport::restart::{Builder, Inner, Probe};
use crate::transport::{make, TransportError};
use tdstream_common::sync::lock;

/// `GST_DEBUG=tdstream-link:6`: restartable links (building, replacing, keyframe requests).
static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdstream-link",
        gst::DebugColorFlags::empty(),
        Some("tdstream restartable network links"),
    )
});

type SinkHook = Box<dyn Fn(&gst::Element) + Send + Sync>;

pub struct Link {
    outer: gst::Bin,
    pads: Vec<gst::GhostPad>,
    gate: Arc<Gate>,
    inner: Mutex<Option<Inner>>,
    build: Builder,
    probe: Box<dyn Probe>,
    on_new_sink: Mutex<Option<SinkHook>>,
    last_keyframe_request: Mutex<Option<Instant>>,
    /// The stream ended (EOS arrived): no more reconnection.
    ended: AtomicBool,
    /// Serialises replacing the inner bin (the monitor's rebuild, the end of the stream).
    replacing: Mutex<()>,
    /// This link, for the callbacks of its pads and buffers.
    this: Arc<OnceLock<Weak<Link>>>,
}

/// The least time between two keyframe requests caused by data loss.
const KEYFRAME_REQUEST_GAP: Duration = Duration::from_millis(500);

impl Link {
    /// Builds the outer bin and a first inner bin (not yet connected: the gate is closed).
    pub fn new(
        name: &str,
        with_audio: bool,
        probe: Box<dyn Probe>,
        build: Builder,
    ) -> Result<Arc<Link>, TransportError> {
        let outer = gst::Bin::with_name(name);
        let gate = Arc::new(Gate::default());
        let mut pads = Vec::new();
        let this: Arc<OnceLock<Weak<Link>>> = Arc::new(OnceLock::new());
        let streams: &[(&str, Stream)] = if with_audio {
            &[("video", Stream::Video), ("audio", Stream::Audio)]
        } else {
            &[("video", Stream::Video)]
        };
        for (pad_name, stream) in streams.iter().copied() {
            let g = Arc::clone(&gate);
            let gl = Arc::clone(&gate);
            let pad = gst::GhostPad::builder(gst::PadDirection::Sink)
                .name(pad_name)
                .chain_function(move |pad, parent, buffer| {
                    let delta = buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    if !g.admit(stream, delta) {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    forward(&g, gst::ProxyPad::chain_default(pad, parent, buffer))
                })
                .event_function({
                    let this = Arc::clone(&this);
                    move |pad, parent, event| {
                        if event.type_() == gst::EventType::Eos {
                            if let Some(link) = this.get().and_then(Weak::upgrade) {
                                link.stream_ended(false);
                            }
                        }
                        gst::Pad::event_default(pad, parent, event)
                    }
                })
                .chain_list_function(move |pad, parent, list| {
                    let delta = list
                        .get(0)
                        .is_some_and(|b| b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                    if !gl.admit(stream, delta) {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    forward(&gl, gst::ProxyPad::chain_list_default(pad, parent, list))
                })
                .build();
            outer
                .add_pad(&pad)
                .map_err(|e| TransportError::Link(e.to_string()))?;
            pads.push(pad);
        }
        let link = Arc::new(Link {
            outer,
            pads,
            gate,
            inner: Mutex::new(None),
            build,
            probe,
            on_new_sink: Mutex::new(None),
            last_keyframe_request: Mutex::new(None),
            ended: AtomicBool::new(false),
            replacing: Mutex::new(()),
            this: Arc::clone(&this),
        });
        let _ = this.set(Arc::downgrade(&link));
        link.attach_inner()?;
        Ok(link)
    }

    pub fn outer(&self) -> &gst::Bin {
        &self.outer
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    pub fn network_sink(&self) -> Option<gst::Element> {
        lock(&self.inner).as_ref().map(|i| i.network_sink.clone())
    }

    /// Called with every new network sink (the first one included), e.g. to install counters.
    pub fn set_on_new_sink(&self, hook: SinkHook) {
        if let Some(sink) = self.network_sink() {
            hook(&sink);
        }
        *lock(&self.on_new_sink) = Some(hook);
    }

    /// Whether `obj` is, or is inside, the current inner bin.
    pub fn contains(&self, obj: &gst::Object) -> bool {
        lock(&self.inner).as_ref().is_some_and(|i| {
            obj == i.bin.upcast_ref::<gst::Object>() || obj.has_as_ancestor(&i.bin)
        })
    }

    /// How much stream the link's buffer holds now (waiting for the network).
    pub fn buffered(&self) -> Duration {
        let queue = lock(&self.inner).as_ref().and_then(|i| i.buffer.clone());
        queue
            .map(|q| Duration::from_nanos(q.property::<u64>("current-level-time")))
            .unwrap_or_default()
    }

    pub fn explain_failure(&self, reason: &str, connecting_for: Option<Duration>) -> String {
        self.probe.explain_failure(reason, connecting_for)
    }

    pub fn is_connected(&self) -> bool {
        let inner = lock(&self.inner);
        inner.as_ref().is_some_and(|i| match &i.connected {
            Some(flag) => flag.load(Ordering::SeqCst),
            None => self.probe.is_connected(&i.network_sink),
        })
    }

    /// The reason the sink's session failed, if its signals said so since the last call.
    pub fn take_failure(&self) -> Option<String> {
        let inner = lock(&self.inner);
        inner
            .as_ref()
            .and_then(|i| i.failure.as_ref())
            .and_then(|f| lock(f).take())
    }

    /// The inner bin is built and about to connect: let data in if the sink needs it to connect.
    pub fn connecting(&self) {
        if self.probe.closed_while_connecting() {
            self.gate.close();
        } else {
            self.gate.resync();
        }
    }

    /// The link is up: from the next keyframe on, everything passes; ask for that keyframe now.
    pub fn connected(&self) {
        if self.gate.mode() == GateMode::Closed {
            self.gate.resync();
        }
        self.request_keyframe(true);
    }

    /// The buffer in front of the sink dropped data: resume at a keyframe, asked for now.
    fn data_lost(&self) {
        if self.gate.mode() == GateMode::Open {
            self.gate.resync();
            self.request_keyframe(false);
        }
    }

    /// Asks the encoder upstream for a keyframe with its headers (rate-limited unless `now`).
    pub fn request_keyframe(&self, now: bool) {
        {
            let mut last = lock(&self.last_keyframe_request);
            if !now && last.is_some_and(|t| t.elapsed() < KEYFRAME_REQUEST_GAP) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Some(pad) = self.pads.first() {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            pad.push_event(event);
        }
    }

    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// EOS reached the link (from the streaming thread, before the event goes on), or the link failed
    /// after it (from the monitor). A link that is not flowing could never pass EOS on, and the
    /// pipeline would wait for it for ever: it is replaced by sinks that take the EOS. With `post`,
    /// the EOS has already gone by and is given to those sinks directly.
    pub fn stream_ended(&self, post: bool) {
        let _replacing = lock(&self.replacing);
        self.ended.store(true, Ordering::Release);
        let flowing = self.gate.mode() == GateMode::Open && lock(&self.inner).is_some();
        if flowing && !post {
            return;
        }
        if lock(&self.inner)
            .as_ref()
            .is_some_and(|i| i.buffer.is_none() && i.bin.name() == ENDED)
        {
            return; // already in place
        }
        self.tear_down();
        match ended_inner(self.pads.iter().map(|p| p.name().to_string())) {
            Ok(inner) => {
                let sinks: Vec<gst::Element> =
                    inner.bin.iterate_sinks().into_iter().flatten().collect();
                if self.attach(inner).is_ok() {
                    self.gate.set_mode(GateMode::Open);
                    if let Some(bin) = lock(&self.inner).as_ref().map(|i| i.bin.clone()) {
                        let _ = bin.sync_state_with_parent();
                    }
                    if post {
                        for sink in sinks {
                            sink.send_event(gst::event::Eos::new());
                        }
                    }
                }
            }
            Err(e) => gst::warning!(CAT, "cannot end the link: {e}"),
        }
    }

    /// Closes the gate and removes the inner bin (closing its connection).
    pub fn tear_down(&self) {
        self.gate.close();
        let Some(inner) = lock(&self.inner).take() else {
            return;
        };
        for pad in &self.pads {
            let _ = pad.set_target(None::<&gst::Pad>);
        }
        // Locked first: a state change of the pipeline running meanwhile must not bring it back up.
        inner.bin.set_locked_state(true);
        let _ = inner.bin.set_state(gst::State::Null);
        let _ = self.outer.remove(&inner.bin);
    }

    /// Builds a new inner bin, puts it in place and brings it to the outer bin's state.
    pub fn rebuild(&self) -> Result<(), String> {
        let _replacing = lock(&self.replacing);
        if self.ended() {
            return Ok(()); // the end of the stream took the link's place
        }
        self.tear_down();
        self.attach_inner().map_err(|e| e.to_string())?;
        let bin = lock(&self.inner).as_ref().map(|i| i.bin.clone());
        if let Some(bin) = bin {
            bin.sync_state_with_parent()
                .map_err(|e| format!("starting the network sink: {e}"))?;
        }
        self.connecting();
        Ok(())
    }

    fn attach_inner(&self) -> Result<(), TransportError> {
        let inner = (self.build)()?;
        self.attach(inner)?;
        self.connecting();
        Ok(())
    }

    fn attach(&self, inner: Inner) -> Result<(), TransportError> {
        self.outer
            .add(&inner.bin)
            .map_err(|e| TransportError::Link(e.to_string()))?;
        for pad in &self.pads {
            let target = inner.bin.static_pad(&pad.name()).ok_or_else(|| {
                TransportError::Link(format!("the link has no {} pad", pad.name()))
            })?;
            pad.set_target(Some(&target))
                .map_err(|e| TransportError::Link(e.to_string()))?;
        }
        if let Some(buffer) = &inner.buffer {
            // The buffer overflowed and dropped data: wait for (and ask for) a keyframe so that the far
            // side never decodes a broken picture.
            let this = self.this.get().cloned();
            buffer.connect("overrun", false, move |_| {
                if let Some(link) = this.as_ref().and_then(Weak::upgrade) {
                    link.data_lost();
                }
                None
            });
        }
        if let Some(hook) = lock(&self.on_new_sink).as_ref() {
            hook(&inner.network_sink);
        }
        *lock(&self.inner) = Some(inner);
        Ok(())
    }
}

const ENDED: &str = "link-ended";

/// The stand-in for a link after the end of the stream: a fakesink per pad, to take the EOS.
fn ended_inner(pads: impl Iterator<Item = String>) -> Result<Inner, TransportError> {
    let bin = gst::Bin::with_name(ENDED);
    let mut first = None;
    for name in pads {
        let sink = make(
            "fakesink",
            &format!("{name}-ended"),
            "the end of the stream",
        )?;
        sink.set_property("sync", false);
        sink.set_property("async", false);
        bin.add(&sink)
            .map_err(|e| TransportError::Link(e.to_string()))?;
        let target = sink
            .static_pad("sink")
            .ok_or_else(|| TransportError::Link("fakesink without a sink pad".into()))?;
        let ghost = gst::GhostPad::builder_with_target(&target)
            .map_err(|e| TransportError::Link(e.to_string()))?
            .name(name.as_str())
            .build();
        bin.add_pad(&ghost)
            .map_err(|e| TransportError::Link(e.to_string()))?;
        first.get_or_insert(sink);
    }
    let network_sink = first.ok_or_else(|| TransportError::Link("a link without pads".into()))?;
    Ok(Inner {
        connected: None,
        failure: None,
        bin,
        network_sink,
        buffer: None,
    })
}

/// What the gate returns upstream for a buffer it passed: the link's trouble stays in the link.
fn forward(
    gate: &Gate,
    result: Result<gst::FlowSuccess, gst::FlowError>,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    match result {
        Ok(s) => Ok(s),
        Err(gst::FlowError::Eos) => Err(gst::FlowError::Eos),
        Err(_) => {
            gate.mark_failed();
            Ok(gst::FlowSuccess::Ok)
        }
    }
}

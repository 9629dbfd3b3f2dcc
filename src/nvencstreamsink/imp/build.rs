//! Building the inside of a running `nvencstreamsink`: one video encode, one audio encode per codec the
//! destinations need, and the destinations, linked directly (one) or behind tees with a bounded buffer
//! each (several):
//!
//! ```text
//! video ─ … ─ ENCODER ─ parser ─ tdmetaembed ─ tee ─┬─ [buffer ─ gate] ─ parser ─ caps ─ destination 1
//!                                                    └─ [buffer ─ gate] ─ parser ─ caps ─ destination 2
//! audio ─ [tee] ─ ENCODER per codec ─ tee ─ [buffer ─ gate] ─ destination n (the gate of its video)
//! ```

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{adapt, Counters, NvencStreamSink, PtsHook, State, CAT};
use crate::destination::gate::{Gate, GateMode, Stream};
use crate::destination::{Branch, Dest, DestCounters};
use crate::destination::{Follow, Started};
use crate::encoder::select::{self, SelectError};
use crate::nvencstreamsink::chain;
use crate::nvencstreamsink::plan::{Plan, Planned};
use crate::nvencstreamsink::{AudioCodec, ConnectionState};
use crate::transport::Connected;
use tdstream_common::rtsp::{KeyframeAction, KeyframeLimiter};
use tdstream_common::sync::lock;

/// How much stream a destination that shares the encode may fall behind before it drops (and then
/// resumes at a keyframe).
pub(super) const BRANCH_BUFFER: Duration = Duration::from_secs(2);
/// The least time between two keyframes asked for by the destinations together.
const SHARED_KEYFRAME_GAP: Duration = Duration::from_millis(250);
/// The least time between two "cannot keep up" warnings of one destination.
const DROP_WARNING_GAP: Duration = Duration::from_secs(10);

/// The tees a listed destination is fed from: video, and the encoded audio per codec.
#[derive(Clone)]
pub(super) struct Tees {
    pub video: gst::Element,
    pub audio: Vec<(AudioCodec, gst::Element)>,
}

/// Where a destination is fed from.
pub(super) enum Feed<'a> {
    /// One destination (`mode` + `url`): right after the encoders.
    Direct {
        video: &'a gst::Element,
        audio: &'a [(AudioCodec, gst::Element)],
    },
    /// A `destinations` list: behind the tees, with a buffer of its own.
    Tees(&'a Tees),
}

/// A built destination, not yet linked to its tees (a live addition links them once its elements
/// have reached the element's state).
pub(super) struct Added {
    pub dest: Dest,
    pub built: Started,
    /// (tee, the buffer it feeds).
    pub pending: Vec<(gst::Element, gst::Element)>,
}

/// Adds `e` to the element and records it in `added`.
fn add(bin: &gst::Bin, e: &gst::Element, added: &mut Vec<gst::Element>) -> Result<(), String> {
    bin.add(e)
        .map_err(|err| format!("adding {}: {err}", e.name()))?;
    added.push(e.clone());
    Ok(())
}

fn link_chain(chain: &[gst::Element]) -> Result<(), String> {
    gst::Element::link_many(chain).map_err(|e| format!("linking the internal chain: {e}"))
}

/// Links `next` to a new request pad of `tee`; returns that pad.
pub(super) fn link_tee(tee: &gst::Element, next: &gst::Element) -> Result<gst::Pad, String> {
    let pad = tee
        .request_pad_simple("src_%u")
        .ok_or_else(|| format!("{} gave no pad", tee.name()))?;
    let sink = next
        .static_pad("sink")
        .ok_or_else(|| format!("{} has no sink pad", next.name()))?;
    pad.link(&sink)
        .map_err(|e| format!("linking {} to {}: {e:?}", tee.name(), next.name()))?;
    Ok(pad)
}

fn link_to_transport(
    last: &gst::Element,
    transport: &gst::Element,
    pad: &str,
) -> Result<(), String> {
    last.link_pads(Some("src"), transport, Some(pad))
        .map_err(|e| format!("linking {pad} to the transport: {e}"))
}

impl NvencStreamSink {
    pub(super) fn build_streaming(
        &self,
        plan: &Plan,
        audio_linked: bool,
        state: &mut State,
    ) -> Result<(), gst::StateChangeError> {
        let with_audio = audio_linked || plan.silent_audio;
        let first = &plan.destinations[0].destination;
        let video = if first.encodes_per_viewer() {
            // webrtcsink encodes for each viewer (never with other destinations: the plan says so).
            state.encoder_name = "webrtcsink (per viewer)".into();
            chain::raw_video(plan)
        } else {
            let chosen = self.choose_encoder(plan, state)?;
            self.start_adaptive(plan, &chosen);
            chain::video(plan, &chosen, None)
        }
        .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        self.add_chain(&video, state)?;
        if let (Some(first), Some(pad)) = (video.first(), self.video_pad.get()) {
            if let Some(target) = first.static_pad("sink") {
                let _ = pad.set_target(Some(&target));
            }
        }
        // Also without an encoder of ours (webrtcsink encoding per viewer): frames-in counts, and every
        // counter starts from 0 with each run.
        self.install_probes(&video, state.encoder.as_ref());
        let video_out = video.last().cloned().ok_or(gst::StateChangeError)?;
        let audio_out = if with_audio {
            self.audio_encodes(plan, audio_linked, &video, state)?
        } else {
            Vec::new()
        };
        if !plan.listed {
            // One destination (`mode` + `url`): linked directly, no buffer of its own.
            let feed = Feed::Direct {
                video: &video_out,
                audio: &audio_out,
            };
            let added = self
                .add_destination(plan, &plan.destinations[0], 0, feed)
                .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e))?;
            self.take_in(added, state)
                .map_err(|e| self.fail(gst::CoreError::Negotiation, &e))?;
            return Ok(());
        }
        let video_tee = self.tee("video-tee", &video_out, state)?;
        if let Some(encoder) = &state.encoder {
            share_keyframe_requests(&video_out, encoder);
        }
        let mut audio_tees = Vec::new();
        for (codec, out) in &audio_out {
            let tee = self.tee(&format!("audio-{}-tee", codec.nick()), out, state)?;
            audio_tees.push((*codec, tee));
        }
        let tees = Tees {
            video: video_tee,
            audio: audio_tees,
        };
        for (i, p) in plan.destinations.iter().enumerate() {
            let named =
                |e: String| format!("destination {} ({}): {e}", i + 1, p.destination.shown());
            let added = self
                .add_destination(plan, p, i as u32, Feed::Tees(&tees))
                .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &named(e)))?;
            self.take_in(added, state)
                .map_err(|e| self.fail(gst::CoreError::Negotiation, &named(e)))?;
        }
        state.tees = Some(tees);
        state.next_id = plan.destinations.len() as u32;
        Ok(())
    }

    /// A destination built at start: linked to its tees and followed at once (the element's state
    /// change brings all of it up).
    fn take_in(&self, added: Added, state: &mut State) -> Result<(), String> {
        let Added {
            dest,
            built,
            pending,
        } = added;
        for (tee, queue) in &pending {
            lock(&dest.tee_pads).push(link_tee(tee, queue)?);
        }
        state.children.extend(dest.elements.iter().cloned());
        let dest = Arc::new(dest);
        self.follow(&dest, &built);
        state.dests.push(dest);
        Ok(())
    }

    /// Builds one destination into the element and links it to what feeds it, except the tees (see
    /// [`Added`]). Used at start and for a `destinations` list changed while PLAYING. On an error,
    /// whatever it added is removed again.
    pub(super) fn add_destination(
        &self,
        plan: &Plan,
        p: &Planned,
        id: u32,
        feed: Feed,
    ) -> Result<Added, String> {
        let with_audio = match &feed {
            Feed::Direct { audio, .. } => !audio.is_empty(),
            Feed::Tees(t) => !t.audio.is_empty(),
        };
        let built = p
            .destination
            .build(&plan.encoder, with_audio)
            .and_then(crate::destination::start)
            .map_err(|e| e.to_string())?;
        if matches!(feed, Feed::Tees(_)) {
            // Several destinations of one transport in one bin: each sub-bin gets a name of its own.
            let name = format!("destination{id}-{}", built.bin.name());
            built.bin.set_property("name", name);
        }
        let mut dest = Dest::new(id, p.url.clone(), Arc::clone(&p.destination));
        let obj = self.obj();
        let element: &gst::Bin = obj.upcast_ref();
        let mut added = Vec::new();
        let mut pending = Vec::new();
        let result = (|| -> Result<(), String> {
            let bin: gst::Element = built.bin.clone().upcast();
            add(element, &bin, &mut added)?;
            dest.network_sink = built.network_sink.clone();
            dest.link = built.link().cloned();
            let tees = match &feed {
                Feed::Direct { video, audio } => {
                    // The transport's caps on the encoder's output.
                    let caps = chain::capsfilter("transport-video-caps", built.video_caps.clone())
                        .map_err(|e| e.to_string())?;
                    add(element, &caps, &mut added)?;
                    link_chain(&[(*video).clone(), caps.clone()])?;
                    link_to_transport(&caps, &bin, "video")?;
                    if let Some((_, audio)) = audio.iter().find(|(c, _)| *c == p.audio_codec) {
                        link_to_transport(audio, &bin, "audio")?;
                    }
                    return Ok(());
                }
                Feed::Tees(t) => *t,
            };
            let branch = chain::video_branch(plan, id, built.video_caps.clone(), BRANCH_BUFFER)
                .map_err(|e| e.to_string())?;
            for e in &branch {
                add(element, e, &mut added)?;
            }
            link_chain(&branch)?;
            link_to_transport(&branch[branch.len() - 1], &bin, "video")?;
            let gate = Arc::new(Gate::default());
            gate.set_mode(GateMode::Open);
            self.guard_branch(&branch[0], &gate, Stream::Video, id);
            let mut queues = vec![branch[0].clone()];
            let mut tee_of = vec![tees.video.clone()];
            if with_audio {
                let tee = tees
                    .audio
                    .iter()
                    .find(|(c, _)| *c == p.audio_codec)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| {
                        format!(
                            "it needs {} audio, which this run does not encode (the audio encoders are chosen \
                             at start). Fix: list it before the stream starts",
                            p.audio_codec.nick()
                        )
                    })?;
                let queue =
                    chain::branch_queue(&format!("destination{id}-audio-buffer"), BRANCH_BUFFER)
                        .map_err(|e| e.to_string())?;
                add(element, &queue, &mut added)?;
                link_to_transport(&queue, &bin, "audio")?;
                self.guard_branch(&queue, &gate, Stream::Audio, id);
                queues.push(queue);
                tee_of.push(tee);
            }
            dest.branch = Some(Branch {
                queue: branch[0].clone(),
                gate,
            });
            // Linked to the tees by the caller, last: data flows once everything behind is ready.
            pending = tee_of.into_iter().zip(queues).collect();
            Ok(())
        })();
        if let Err(e) = result {
            for e in added.iter().rev() {
                let _ = element.remove(e);
            }
            return Err(e);
        }
        dest.elements = added;
        Ok(Added {
            dest,
            built,
            pending,
        })
    }

    /// How the element learns each destination's bytes and connection.
    pub(super) fn follow(&self, dest: &Arc<Dest>, b: &Started) {
        let c = Arc::clone(&dest.counters);
        match (&b.follow, &b.network_sink) {
            (Follow::Link(link), _) => {
                link.set_on_new_sink(Box::new(move |sink| count_bytes(sink, &c, None)));
            }
            (Follow::Once(Connected::Callers), Some(sink)) => {
                self.follow_callers(sink, dest.id);
                count_bytes(sink, &c, None);
            }
            (Follow::Once(Connected::FirstData), Some(sink)) => {
                count_bytes(sink, &c, Some((self.obj().downgrade(), dest.id)))
            }
            (_, None) => {}
        }
    }

    /// A tee after `upstream`, which never waits for a branch that is not linked yet.
    fn tee(
        &self,
        name: &str,
        upstream: &gst::Element,
        state: &mut State,
    ) -> Result<gst::Element, gst::StateChangeError> {
        let tee = crate::plugins::make("tee", name, "several destinations")
            .map_err(|e| self.fail(gst::CoreError::MissingPlugin, &e.to_string()))?;
        tee.set_property("allow-not-linked", true);
        self.add_child(&tee, state)?;
        upstream
            .link(&tee)
            .map_err(|e| self.fail(gst::CoreError::Negotiation, &format!("linking {name}: {e}")))?;
        Ok(tee)
    }

    /// Audio: the input (or the silent source) and one encode per codec that the destinations need;
    /// returns each codec's last element.
    fn audio_encodes(
        &self,
        plan: &Plan,
        audio_linked: bool,
        video: &[gst::Element],
        state: &mut State,
    ) -> Result<Vec<(AudioCodec, gst::Element)>, gst::StateChangeError> {
        let missing = |e: crate::plugins::MissingElement| {
            self.fail(gst::CoreError::MissingPlugin, &e.to_string())
        };
        let source = chain::audio_source(!audio_linked).map_err(missing)?;
        self.add_child(&source, state)?;
        if !audio_linked {
            Self::end_with_video(video, &source);
        } else if let (Some(pad), Some(target)) = (self.audio_pad.get(), source.static_pad("sink"))
        {
            let _ = pad.set_target(Some(&target));
        }
        let codecs = plan.audio_codecs();
        let raw_tee = if codecs.len() > 1 {
            Some(self.tee("audio-raw-tee", &source, state)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for codec in codecs {
            let suffix = if raw_tee.is_some() {
                format!("-{}", codec.nick())
            } else {
                String::new()
            };
            let encode = chain::audio_encode(plan, codec, &suffix).map_err(missing)?;
            self.add_chain(&encode, state)?;
            let linked = match &raw_tee {
                Some(tee) => link_tee(tee, &encode[0]).map(|_| ()),
                None => link_chain(&[source.clone(), encode[0].clone()]),
            };
            linked.map_err(|e| self.fail(gst::CoreError::Negotiation, &e))?;
            out.push((codec, encode[encode.len() - 1].clone()));
        }
        Ok(out)
    }

    /// The input of a destination's buffer: while the buffer is full the destination cannot keep up,
    /// and what arrives is dropped (counted) until a keyframe finds room again, so the far side never
    /// decodes a broken picture; a keyframe is asked for, and a warning says so (rate-limited).
    fn guard_branch(&self, queue: &gst::Element, gate: &Arc<Gate>, stream: Stream, id: u32) {
        let Some(pad) = queue.static_pad("sink") else {
            return;
        };
        let limit = BRANCH_BUFFER.as_nanos() as u64 * 9 / 10;
        let (gate, q) = (Arc::clone(gate), queue.downgrade());
        let weak = self.obj().downgrade();
        let warned: Mutex<Option<Instant>> = Mutex::new(None);
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, info| {
                let delta = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => {
                        b.flags().contains(gst::BufferFlags::DELTA_UNIT)
                    }
                    Some(gst::PadProbeData::BufferList(l)) => l
                        .get(0)
                        .is_some_and(|b| b.flags().contains(gst::BufferFlags::DELTA_UNIT)),
                    _ => return gst::PadProbeReturn::Ok,
                };
                let full = q
                    .upgrade()
                    .is_some_and(|q| q.property::<u64>("current-level-time") >= limit);
                if full {
                    if gate.mode() == GateMode::Open {
                        gate.resync();
                        request_keyframe(pad);
                        let mut last = lock(&warned);
                        if last.is_none_or(|t| t.elapsed() >= DROP_WARNING_GAP) {
                            *last = Some(Instant::now());
                            drop(last);
                            if let Some(obj) = weak.upgrade() {
                                obj.imp().destination_behind(id);
                            }
                        }
                    }
                    gate.admit(stream, true); // counts the drop
                    return gst::PadProbeReturn::Drop;
                }
                if gate.admit(stream, delta) {
                    gst::PadProbeReturn::Ok
                } else {
                    if stream == Stream::Video && gate.mode() == GateMode::AwaitKeyframe {
                        request_keyframe(pad);
                    }
                    gst::PadProbeReturn::Drop
                }
            },
        );
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

    /// The bitrate the encoder starts at, and adaptive-bitrate where asked for and possible.
    fn start_adaptive(&self, plan: &Plan, chosen: &select::Chosen) {
        let e = &plan.encoder;
        self.target_bps
            .store(e.avg_kbps() as u64 * 1000, Ordering::Relaxed);
        let peak = (!e.bitrate_mode.is_constant() && e.avg_kbps() > 0)
            .then(|| e.max_kbps() as f64 / e.avg_kbps() as f64);
        let adaptive = plan.adaptive.and_then(|range| {
            match adapt::Adaptive::new(&chosen.element, &chosen.factory, range, peak) {
                Ok(a) => {
                    gst::info!(
                        CAT,
                        imp = self,
                        "adaptive bitrate between {} and {} kbit/s",
                        range.0,
                        range.1
                    );
                    Some(a)
                }
                Err(why) => {
                    gst::element_imp_warning!(self, gst::ResourceError::Settings, ("{}", why));
                    None
                }
            }
        });
        *lock(&self.adaptive) = adaptive;
    }

    /// The silent audio source is live and endless: end it when the video ends, so the muxers (and the
    /// pipeline) reach EOS.
    fn end_with_video(video: &[gst::Element], silent: &gst::Element) {
        let Some(pad) = video.first().and_then(|q| q.static_pad("sink")) else {
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

    fn install_probes(&self, video: &[gst::Element], encoder: Option<&gst::Element>) {
        let counters = &self.counters;
        counters.frames_in.store(0, Ordering::Relaxed);
        counters.frames_encoded.store(0, Ordering::Relaxed);
        counters.encode_time.reset();
        counters.send_delay.reset();
        if let Some(pad) = video.first().and_then(|q| q.static_pad("sink")) {
            let c = Arc::clone(counters);
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.frames_in.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        let Some(encoder) = encoder else {
            return;
        };
        // Encode time: encoder input → output; send delay: encoder output → transport input (plus the
        // time data waits in the destinations' buffers, added when read).
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
            Box::new(|c, pts| c.encode_time.start(pts, Instant::now())),
        );
        pts_probe(
            encoder.static_pad("src"),
            Box::new(|c, pts| {
                let now = Instant::now();
                c.frames_encoded.fetch_add(1, Ordering::Relaxed);
                let _ = c.encode_time.stop(pts, now);
                c.send_delay.start(pts, now);
            }),
        );
        pts_probe(
            video.last().and_then(|e| e.static_pad("src")),
            Box::new(|c: &Counters, pts| {
                let _ = c.send_delay.stop(pts, Instant::now());
            }),
        );
    }

    /// SRT listener: connected while at least one caller is, connecting (waiting for one) otherwise.
    fn follow_callers(&self, sink: &gst::Element, id: u32) {
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
                    obj.imp().destination_changed(id, state, 0, 0, &reason);
                }
                None
            });
        }
    }
}

pub(super) fn request_keyframe(pad: &gst::Pad) {
    let event = gst_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    pad.push_event(event);
}

/// An upstream event taken out of its probe and dropped here: `Handled` with the event taken is the
/// one way that GStreamer neither forwards nor unrefs it again (`Drop` on an upstream event in 1.22
/// ends in "gst_mini_object_unref: assertion 'mini_object != NULL' failed").
fn handled(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    drop(info.take_event());
    gst::PadProbeReturn::Handled
}

/// Several destinations ask for keyframes (joins, reconnections, drops): they reach the one encoder
/// at most once per [`SHARED_KEYFRAME_GAP`]; requests in between are folded into one sent at the end of
/// the gap, so nobody waits for the keyframe interval.
fn share_keyframe_requests(video_out: &gst::Element, encoder: &gst::Element) {
    let Some(pad) = video_out.static_pad("src") else {
        return;
    };
    let limiter = Arc::new(Mutex::new(KeyframeLimiter::new(SHARED_KEYFRAME_GAP)));
    let encoder = encoder.downgrade();
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        let is_request = matches!(&info.data, Some(gst::PadProbeData::Event(e))
            if gst_video::UpstreamForceKeyUnitEvent::parse(e).is_ok());
        if !is_request {
            return gst::PadProbeReturn::Ok;
        }
        match lock(&limiter).request(Instant::now()) {
            KeyframeAction::SendNow => gst::PadProbeReturn::Ok,
            KeyframeAction::Coalesced => handled(info),
            KeyframeAction::SendAfter(delay) => {
                // Sent into the encoder directly, past this probe.
                let (later, encoder) = (Arc::clone(&limiter), encoder.clone());
                let spawned = std::thread::Builder::new()
                    .name("nvencstreamsink-keyframe".into())
                    .spawn(move || {
                        std::thread::sleep(delay);
                        lock(&later).fired(Instant::now());
                        if let Some(pad) = encoder.upgrade().and_then(|e| e.static_pad("src")) {
                            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                                .all_headers(true)
                                .build();
                            pad.send_event(event);
                        }
                    });
                if spawned.is_err() {
                    lock(&limiter).fired(Instant::now());
                    return gst::PadProbeReturn::Ok;
                }
                handled(info)
            }
        }
    });
}

/// Counts the bytes that reach a network sink (on every sink pad: rtspsharedserver has `video` and
/// `audio`); with `first_data`, the first ones also mean that destination is connected.
fn count_bytes(
    sink: &gst::Element,
    counters: &Arc<DestCounters>,
    first_data: Option<(glib::WeakRef<crate::nvencstreamsink::NvencStreamSink>, u32)>,
) {
    for pad in sink.sink_pads() {
        let c = Arc::clone(counters);
        let first_data = first_data.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let size = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => b.size(),
                    Some(gst::PadProbeData::BufferList(l)) => l.calculate_size(),
                    _ => 0,
                };
                if c.bytes_sent.fetch_add(size as u64, Ordering::Relaxed) == 0 {
                    if let Some((obj, index)) = first_data
                        .as_ref()
                        .and_then(|(w, i)| Some((w.upgrade()?, *i)))
                    {
                        obj.imp()
                            .destination_changed(index, ConnectionState::Connected, 0, 0, "");
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
}

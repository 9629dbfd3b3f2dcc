//! `destinations` changed while PLAYING: destinations that appear are built and start (with a
//! keyframe for them), those that disappear stop and release their connection or port, and unchanged
//! ones are not touched. Runs on a helper thread, never the application's or a streaming thread.

use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use super::build::{link_tee, request_keyframe, Added, Feed};
use super::{NvencStreamSink, CAT};
use crate::destination::gate::GateMode;
use crate::destination::monitor::Followed;
use crate::destination::Dest;
use crate::nvencstreamsink::plan;
use crate::nvencstreamsink::ConnectionState;
use tdstream_common::sync::lock;

/// How long a tee pad may take to become idle before it is unlinked anyway.
const IDLE_WAIT: Duration = Duration::from_secs(2);

impl NvencStreamSink {
    /// `destinations` was set: when running, change them on another thread.
    pub(super) fn schedule_destinations_change(&self) {
        self.on_helper_thread(
            "nvencstreamsink-destinations",
            "destinations change",
            Self::apply_destinations,
        );
    }

    fn apply_destinations(&self) {
        let serial = lock(&self.toggling);
        let settings = lock(&self.settings).clone();
        let listed_now = lock(&self.state).as_ref().map(|s| s.tees.is_some());
        let Some(listed_now) = listed_now else {
            return; // stopped meanwhile
        };
        if !settings.active {
            return; // nothing runs; `active=true` builds what is set then
        }
        if !listed_now || settings.destinations.trim().is_empty() {
            // From or to the one-destination form (`mode` + `url`): everything is built again.
            drop(serial);
            self.apply_active();
            return;
        }
        let plan = match plan::plan(&settings, Self::capabilities()) {
            Ok(p) => p,
            Err(e) => {
                let text = lock(&self.state)
                    .as_ref()
                    .map(|s| s.redactor.redact(&e.to_string()))
                    .unwrap_or_default();
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Settings,
                    ("{}; the running destinations are kept as they are", text)
                );
                return;
            }
        };
        let (removed, added) = {
            let mut state = lock(&self.state);
            let Some(s) = state.as_mut() else {
                return;
            };
            // New secrets are redacted from now on; those of removed destinations stay redacted.
            let mut redactor = plan.redactor.clone();
            redactor.merge(&s.redactor);
            s.redactor = redactor;
            let running: Vec<&str> = s.dests.iter().map(|d| d.url.as_str()).collect();
            let new: Vec<&str> = plan.destinations.iter().map(|p| p.url.as_str()).collect();
            let (removed, added) = crate::nvencstreamsink::list::diff(&running, &new);
            let removed: Vec<Arc<Dest>> =
                removed.iter().map(|i| Arc::clone(&s.dests[*i])).collect();
            (removed, added)
        };
        for dest in &removed {
            self.remove_destination(dest, "removed");
        }
        for i in added {
            self.add_live(&plan, i);
        }
        // The list's order is the new one.
        if let Some(s) = lock(&self.state).as_mut() {
            let order: Vec<&str> = plan.destinations.iter().map(|p| p.url.as_str()).collect();
            s.dests
                .sort_by_key(|d| order.iter().position(|u| *u == d.url).unwrap_or(usize::MAX));
        }
        gst::info!(CAT, imp = self, "destinations changed while running");
    }

    /// Builds destination `i` of `plan` while the element plays: on the list first, its elements come
    /// up, then it is linked to the tees, waits for a keyframe (asked for at once) and is followed.
    fn add_live(&self, plan: &plan::Plan, i: usize) {
        let p = &plan.destinations[i];
        let id = match lock(&self.state).as_mut() {
            Some(s) => {
                s.next_id += 1;
                s.next_id - 1
            }
            None => return,
        };
        let Some(tees) = lock(&self.state).as_ref().and_then(|s| s.tees.clone()) else {
            return;
        };
        let built = self.add_destination(plan, p, id, Feed::Tees(&tees));
        let Added {
            dest,
            built,
            pending,
        } = match built {
            Ok(a) => a,
            Err(e) => {
                let text = format!(
                    "destinations: destination {} ({}) not added: {e}",
                    i + 1,
                    p.destination.shown()
                );
                gst::element_imp_warning!(self, gst::ResourceError::Settings, ("{}", text));
                return;
            }
        };
        // On the list before its elements come up, so that an error on the way up (its SRT port held by
        // another program) is this destination's, a warning that names it, and not the element's error
        // that stops every destination.
        let dest = Arc::new(dest);
        if let Some(s) = lock(&self.state).as_mut() {
            s.children.extend(dest.elements.iter().cloned());
            s.dests.push(Arc::clone(&dest));
        }
        // It starts mid-GOP, so it waits for a keyframe.
        if let Some(b) = &dest.branch {
            b.gate.set_mode(GateMode::AwaitKeyframe);
        }
        let up = dest
            .elements
            .iter()
            .rev()
            .all(|e| e.sync_state_with_parent().is_ok());
        if !up {
            // Its warning said why as it failed. Taken out again: setting `destinations` again retries it.
            self.remove_destination(&dest, "not started");
            return;
        }
        // Up (an SRT listener has its port): "added" says so.
        self.destination_changed(id, ConnectionState::Connecting, 0, 0, "added");
        for (tee, queue) in &pending {
            match link_tee(tee, queue) {
                Ok(pad) => lock(&dest.tee_pads).push(pad),
                Err(e) => gst::warning!(CAT, imp = self, "destination not linked: {e}"),
            }
        }
        self.follow(&dest, &built);
        if let Some(s) = lock(&self.state).as_ref() {
            if let (Some(monitor), Some(link)) = (&s.monitor, dest.link.clone()) {
                monitor.follow(Followed {
                    id,
                    link,
                    destination: Arc::clone(&dest.destination),
                });
            }
        }
        if let Some(pad) = pending.first().and_then(|(_, q)| q.static_pad("sink")) {
            request_keyframe(&pad);
        }
    }

    /// At start, with several destinations: those that failed on the way up (their error became a
    /// warning naming them, see `isolate`) are taken out, so that the others can start. False when
    /// none failed, or all did (then their error stands).
    pub(super) fn leave_out_unstarted(&self) -> bool {
        let (failed, all): (Vec<Arc<Dest>>, usize) = match lock(&self.state).as_ref() {
            Some(s) if s.tees.is_some() => (
                s.dests
                    .iter()
                    .filter(|d| d.state() == ConnectionState::Failed)
                    .cloned()
                    .collect(),
                s.dests.len(),
            ),
            _ => return false,
        };
        if failed.is_empty() || failed.len() == all {
            return false;
        }
        for dest in &failed {
            self.remove_destination(dest, "not started");
        }
        true
    }

    /// Stops a destination while the others play: unlinked from the tees when their pads are idle,
    /// its elements brought down (closing its connection, or its RTSP mount and port) and removed.
    fn remove_destination(&self, dest: &Arc<Dest>, reason: &str) {
        self.destination_changed(dest.id, ConnectionState::Disconnected, 0, 0, reason);
        if let Some(s) = lock(&self.state).as_mut() {
            if let Some(m) = &s.monitor {
                m.unfollow(dest.id);
            }
            s.dests.retain(|d| d.id != dest.id);
            s.children.retain(|c| !dest.elements.contains(c));
        }
        let pads = std::mem::take(&mut *lock(&dest.tee_pads));
        for pad in &pads {
            let (tx, rx) = std::sync::mpsc::channel();
            let probe = pad.add_probe(gst::PadProbeType::IDLE, move |pad, _| {
                if let Some(peer) = pad.peer() {
                    let _ = pad.unlink(&peer);
                }
                let _ = tx.send(());
                gst::PadProbeReturn::Remove
            });
            if probe.is_some() && rx.recv_timeout(IDLE_WAIT).is_err() {
                if let Some(peer) = pad.peer() {
                    let _ = pad.unlink(&peer);
                }
            }
            if let Some(tee) = pad.parent_element() {
                tee.release_request_pad(pad);
            }
        }
        if let Some(link) = &dest.link {
            link.tear_down();
        }
        for e in dest.elements.iter().rev() {
            e.set_locked_state(true);
            let _ = e.set_state(gst::State::Null);
            let _ = self.obj().remove(e);
        }
        self.refresh_summary();
    }
}

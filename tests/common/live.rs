//! A live sender pipeline followed through its bus: the `nvencstreamsink-connection` states in order,
//! errors, warnings and the last stats message (used by the reconnection tests and the soak run).

use gst::prelude::*;
use std::time::{Duration, Instant};

/// A running sender pipeline and what its bus said so far.
pub struct Run {
    pub pipeline: gst::Pipeline,
    /// Connection states in the order posted, with the reason.
    pub states: Vec<(String, String)>,
    /// The `nvencstreamsink-connection` messages themselves, in the order posted.
    pub connection: Vec<gst::Structure>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub stats: Option<gst::Structure>,
    /// Every message read off the bus, as text: its type, source, structure, and for errors and warnings
    /// the message and its debug string.
    pub messages: Vec<String>,
}

impl Run {
    pub fn start(launch: &str) -> Run {
        let pipeline = gst::parse::launch(launch)
            .expect("launch")
            .downcast::<gst::Pipeline>()
            .expect("pipeline");
        if pipeline.set_state(gst::State::Playing).is_err() {
            // What the element said, not a bare StateChangeError (e.g. mode=whip in a build without the
            // webrtc feature: "... needs the webrtc feature").
            let said: Vec<String> = pipeline
                .bus()
                .into_iter()
                .flat_map(|b| {
                    std::iter::from_fn(move || b.pop_filtered(&[gst::MessageType::Error]))
                })
                .filter_map(|m| match m.view() {
                    gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
                    _ => None,
                })
                .collect();
            let _ = pipeline.set_state(gst::State::Null);
            panic!("{launch}\ndid not start: {said:?}");
        }
        Run {
            pipeline,
            states: Vec::new(),
            connection: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            stats: None,
            messages: Vec::new(),
        }
    }

    /// Reads the bus until `done` holds or `timeout` passes; true if it held.
    pub fn until(&mut self, timeout: Duration, mut done: impl FnMut(&Run) -> bool) -> bool {
        let bus = self.pipeline.bus().expect("bus");
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let wait = gst::ClockTime::from_nseconds(
                left.min(Duration::from_millis(100)).as_nanos() as u64,
            );
            let Some(msg) = bus.timed_pop(wait) else {
                continue;
            };
            self.messages.push(message_text(&msg));
            match msg.view() {
                gst::MessageView::Element(e) => {
                    let Some(s) = e.structure() else { continue };
                    if s.name() == "nvencstreamsink-connection" {
                        let state = s
                            .value("state")
                            .ok()
                            .and_then(|v| {
                                gst::glib::EnumValue::from_value(v)
                                    .map(|(_, e)| e.nick().to_string())
                            })
                            .unwrap_or_default();
                        let reason = s.get::<String>("reason").unwrap_or_default();
                        self.states.push((state, reason));
                        self.connection.push(s.to_owned());
                    } else if s.name() == "nvencstreamsink-stats" {
                        self.stats = Some(s.to_owned());
                    }
                }
                gst::MessageView::Error(e) => self.errors.push(e.error().to_string()),
                gst::MessageView::Warning(w) => self.warnings.push(w.error().to_string()),
                _ => {}
            }
        }
    }

    /// Takes in everything the bus holds now (errors and warnings posted while the test was busy
    /// elsewhere), so that an assertion on `errors` covers the whole run.
    pub fn drain(&mut self) {
        self.until(Duration::from_millis(50), |_| false);
    }

    /// Waits for the `n`-th time the state `state` is posted.
    pub fn until_state(&mut self, state: &str, n: usize, timeout: Duration) -> bool {
        self.until(timeout, |r| r.count(state) >= n)
    }

    pub fn count(&self, state: &str) -> usize {
        self.states.iter().filter(|(s, _)| s == state).count()
    }

    pub fn sequence(&self) -> Vec<&str> {
        self.states.iter().map(|(s, _)| s.as_str()).collect()
    }

    pub fn stat_u64(&self, name: &str) -> u64 {
        self.sink()
            .property::<gst::Structure>("stats")
            .get::<u64>(name)
            .unwrap_or(0)
    }

    pub fn sink(&self) -> gst::Element {
        self.pipeline.by_name("s").expect("nvencstreamsink named s")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A bus message as a user printing it would see it: type, source, structure, and for errors, warnings
/// and infos the message and its debug string.
pub fn message_text(msg: &gst::Message) -> String {
    let detail = match msg.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        gst::MessageView::Warning(w) => format!("{} {:?}", w.error(), w.debug()),
        gst::MessageView::Info(i) => format!("{} {:?}", i.error(), i.debug()),
        _ => String::new(),
    };
    format!(
        "{:?} from {:?}: {} {detail}",
        msg.type_(),
        msg.src().map(|s| s.path_string()),
        msg.structure().map(|s| s.to_string()).unwrap_or_default()
    )
}

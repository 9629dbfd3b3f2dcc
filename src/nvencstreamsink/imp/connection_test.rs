//! The `test-connection` action signal: nanocosmos' connection test. Each destination of `url` or
//! `destinations` is connected (and, for RTMP, published to, where servers check the stream key and
//! credentials) by its transport's own test without streaming; the answer is a structure, posted as an
//! element message too.

use gst::prelude::*;
use gst::subclass::prelude::*;
use std::time::Duration;
use tdstream_common::sync::lock;

use super::NvencStreamSink;
use crate::nvencstreamsink::plan;

/// How long a destination's test waits for the server's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The name of the answer (and of the element message).
pub const ANSWER: &str = "nvencstreamsink-connection-test";

/// One destination's line of the answer.
fn line(url: &str, transport: &str, result: &str, reason: &str) -> gst::Structure {
    gst::Structure::builder("destination")
        .field("url", url)
        .field("transport", transport)
        .field("result", result)
        .field("reason", reason)
        .build()
}

impl NvencStreamSink {
    pub(super) fn test_connection(&self) -> gst::Structure {
        let settings = lock(&self.settings).clone();
        let mut lines = Vec::new();
        let mut ok = true;
        match plan::plan(&settings, Self::capabilities()) {
            Err(e) => {
                ok = false;
                lines.push(line("", "", "failed", &e.to_string()));
            }
            Ok(plan) => {
                for planned in &plan.destinations {
                    let d = &planned.destination;
                    let shown = d.shown();
                    let transport = d.kind().name;
                    gst::info!(super::CAT, imp = self, "testing the connection to {shown}");
                    match d.connection_test(TIMEOUT) {
                        None => lines.push(line(
                            &shown,
                            transport,
                            "untested",
                            "this transport has no connection test (RTMP and RTMPS have one)",
                        )),
                        Some(Ok(())) => lines.push(line(&shown, transport, "ok", "")),
                        Some(Err(detail)) => {
                            ok = false;
                            let reason = d.with_hints(&detail, &detail);
                            lines.push(line(
                                &shown,
                                transport,
                                "failed",
                                &plan.redactor.redact(&reason),
                            ));
                        }
                    }
                }
                ok &= lines.iter().any(|l| l.get::<&str>("result") == Ok("ok"));
            }
        }
        let answer = gst::Structure::builder(ANSWER)
            .field("ok", ok)
            .field("destinations", gst::Array::new(lines))
            .build();
        gst::info!(super::CAT, imp = self, "connection test: {answer}");
        let _ = self.obj().post_message(
            gst::message::Element::builder(answer.clone())
                .src(&*self.obj())
                .build(),
        );
        answer
    }
}

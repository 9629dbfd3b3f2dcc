//! The single `audio` request pad that `nvencstreamsink` and `rtspsharedserver` both offer: a ghost
//! pad, requested before the element starts, retargeted when the element builds its inside.

use gst::prelude::*;
use std::sync::Mutex;

#[derive(Default)]
pub struct AudioPad(Mutex<Option<gst::GhostPad>>);

impl AudioPad {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<gst::GhostPad>> {
        crate::sync::lock(&self.0)
    }

    /// `request_new_pad` of both elements: adds the pad to `element`, or posts a warning that says why
    /// there is none.
    pub fn request_new_pad(
        &self,
        element: &gst::Element,
        templ: &gst::PadTemplate,
    ) -> Option<gst::Pad> {
        match self.request(element, templ) {
            Ok(pad) => Some(pad),
            Err(why) => {
                gst::element_warning!(element, gst::CoreError::Pad, ("{}", why));
                None
            }
        }
    }

    /// Adds the pad to `element`; the error says why there is none.
    fn request(
        &self,
        element: &gst::Element,
        templ: &gst::PadTemplate,
    ) -> Result<gst::Pad, &'static str> {
        let mut slot = self.slot();
        if slot.is_some() {
            return Err("there is only one audio pad");
        }
        if element.current_state() > gst::State::Null {
            return Err(
                "the audio pad must be requested before the element starts (in the NULL state)",
            );
        }
        let pad = gst::GhostPad::builder_from_template(templ)
            .name("audio")
            .build();
        element
            .add_pad(&pad)
            .map_err(|_| "the audio pad could not be added")?;
        *slot = Some(pad.clone());
        Ok(pad.upcast())
    }

    pub fn release(&self, element: &gst::Element, pad: &gst::Pad) {
        let mut slot = self.slot();
        if slot
            .as_ref()
            .is_some_and(|a| a.upcast_ref::<gst::Pad>() == pad)
        {
            *slot = None;
            drop(slot);
            let _ = element.remove_pad(pad);
        }
    }

    pub fn get(&self) -> Option<gst::GhostPad> {
        self.slot().clone()
    }

    /// Points the pad at `target` (None: detach).
    pub fn set_target(&self, target: Option<&gst::Pad>) {
        if let Some(pad) = self.get() {
            let _ = pad.set_target(target);
        }
    }
}

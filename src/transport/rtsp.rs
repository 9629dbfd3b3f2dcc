//! RTSP server: an internal `rtspsharedserver` (one mount on the process-wide server for the port, in
//! the companion plugin `libgsttdstreamrtsp.so`). Its URL is `rtsp://[address]:port/stream-name`, with
//! `?multicast=true` to offer multicast; `mode=rtsp-server` writes it from `port`, `stream-name` and
//! `multicast`.

use gst::prelude::*;
use std::sync::Arc;

use super::url::{parse_authority, split_authority, Authority, UrlError};
use super::{
    make, video_caps, Built, Connected, Context, Destination, DestinationError, Form, Kind, Media,
    Mode, TransportError,
};
use crate::encoder::{Codec, EncoderSettings};

pub static KIND: Kind = Kind {
    name: "rtsp",
    mode: Mode::RtspServer,
    schemes: &["rtsp"],
    parse,
};

pub const EXAMPLE: &str = "rtsp://:8554/cam1";
const DEFAULT_PORT: u16 = 8554;

/// Where an RTSP-server stream is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspTarget {
    /// The address to bind; empty = every interface.
    pub address: String,
    pub port: u16,
    pub stream_name: String,
    pub multicast: bool,
}

impl RtspTarget {
    /// The URL of `mode=rtsp-server`, from the element's `port`, `stream-name` and `multicast`.
    pub fn url_of(port: u32, stream_name: &str, multicast: bool) -> String {
        let port = u16::try_from(port).unwrap_or(DEFAULT_PORT);
        let query = if multicast { "?multicast=true" } else { "" };
        format!("rtsp://:{port}/{stream_name}{query}")
    }

    pub fn parse(url: &str) -> Result<RtspTarget, DestinationError> {
        let (_, authority, rest) = split_authority(url, &["rtsp"], "rtsp://", EXAMPLE)?;
        let shown = format!("rtsp://{authority}");
        let Authority { host, port, .. } = parse_authority(authority, &shown)?;
        let rest = rest.trim_start_matches('/');
        let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
        tdstream_common::rtsp::validate_stream_name(name).map_err(DestinationError::Rtsp)?;
        let mut multicast = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
            match (key, value) {
                ("multicast", "true" | "1") => multicast = true,
                ("multicast", "false" | "0") => multicast = false,
                _ => {
                    return Err(DestinationError::Url(UrlError::UnknownOption {
                        shown: format!("{shown}/{name}"),
                        key: pair.to_string(),
                        allowed: "multicast=true or multicast=false",
                    }))
                }
            }
        }
        Ok(RtspTarget {
            address: host,
            port: port.unwrap_or(DEFAULT_PORT),
            stream_name: name.to_string(),
            multicast,
        })
    }
}

/// An RTSP-server destination.
#[derive(Debug, Clone)]
pub struct Rtsp {
    pub target: RtspTarget,
    codec: Codec,
    /// An AV1 RTP payloader (`rtpav1pay`) is installed.
    rtp_av1: bool,
}

fn parse(url: &str, ctx: &Context) -> Result<Arc<dyn Destination>, DestinationError> {
    Ok(Arc::new(Rtsp {
        target: RtspTarget::parse(url)?,
        codec: ctx.codec,
        rtp_av1: ctx.caps.rtp_av1,
    }))
}

impl Destination for Rtsp {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn shown(&self) -> String {
        let host = if self.target.address.is_empty() {
            "<this host>"
        } else {
            &self.target.address
        };
        format!(
            "rtsp://{host}:{}/{}",
            self.target.port, self.target.stream_name
        )
    }

    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }

    fn check(&self, media: &mut Media) -> Result<(), DestinationError> {
        if media.encoder.codec == Codec::Av1 && !self.rtp_av1 {
            return Err(DestinationError::CodecOnProtocol {
                codec: "av1",
                mode: "rtsp-server",
                why: "AV1 over RTP needs an AV1 payloader (rtpav1pay: GStreamer 1.24+ or gst-plugins-rs), and none is installed",
                fix: "set video-codec=h264 or video-codec=h265",
            });
        }
        Ok(())
    }

    fn build(&self, _: &EncoderSettings, with_audio: bool) -> Result<Built, TransportError> {
        let bin = gst::Bin::with_name("rtsp-transport");
        let server = make("rtspsharedserver", "rtspsharedserver", "mode=rtsp-server")?;
        server.set_property("port", self.target.port as u32);
        server.set_property("stream-name", &self.target.stream_name);
        server.set_property("multicast", self.target.multicast);
        if !self.target.address.is_empty() {
            server.set_property("address", &self.target.address);
        }
        bin.add(&server)
            .map_err(|e| TransportError::Link(e.to_string()))?;
        let ghost = |name: &str, pad: Option<gst::Pad>| -> Result<(), TransportError> {
            let pad = pad.ok_or_else(|| {
                TransportError::Link(format!("rtspsharedserver gave no {name} pad"))
            })?;
            let g = gst::GhostPad::builder_with_target(&pad)
                .map_err(|e| TransportError::Link(e.to_string()))?
                .name(name)
                .build();
            bin.add_pad(&g)
                .map_err(|e| TransportError::Link(e.to_string()))
        };
        ghost("video", server.static_pad("video"))?;
        if with_audio {
            ghost("audio", server.request_pad_simple("audio"))?;
        }
        Ok(Built {
            video_caps: video_caps(self.codec, Some("byte-stream")),
            form: Form::Once {
                bin,
                network_sink: server,
                connected: Connected::FirstData,
            },
        })
    }

    /// rtspsharedserver's figure, from the clients' RTCP receiver reports.
    fn packet_loss_ratio(&self, sink: &gst::Element) -> f64 {
        server_stats(sink)
            .and_then(|s| s.get::<f64>("packet-loss-ratio").ok())
            .unwrap_or(0.0)
    }

    fn clients(&self, sink: &gst::Element) -> u32 {
        server_stats(sink)
            .and_then(|s| s.get::<u32>("clients").ok())
            .unwrap_or(0)
    }

    /// The URL clients open, from the server (which knows the address it bound).
    fn stream_url(&self, sink: Option<&gst::Element>) -> String {
        sink.and_then(|s| s.property::<Option<String>>("url"))
            .unwrap_or_else(|| self.shown())
    }
}

fn server_stats(sink: &gst::Element) -> Option<gst::Structure> {
    sink.find_property("stats")?;
    sink.property::<Option<gst::Structure>>("stats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_urls() {
        let t = RtspTarget::parse("rtsp://127.0.0.1:8600/cam1?multicast=true").unwrap();
        assert_eq!(
            t,
            RtspTarget {
                address: "127.0.0.1".into(),
                port: 8600,
                stream_name: "cam1".into(),
                multicast: true
            }
        );
        let t = RtspTarget::parse(&RtspTarget::url_of(8554, "td", false)).unwrap();
        assert_eq!((t.address.as_str(), t.port, t.multicast), ("", 8554, false));
        let e = RtspTarget::parse("rtsp://:8554/bad/name")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stream-name 'bad/name'"), "{e}");
        let e = RtspTarget::parse("rtsp://:8554/x?colour=red")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour") && e.contains("multicast=true"), "{e}");
        let e = RtspTarget::parse("rtsp://:0/x").unwrap_err().to_string();
        assert!(e.contains("invalid port"), "{e}");
    }
}

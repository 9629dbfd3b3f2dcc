//! WebRTC and WHIP settings that need no GStreamer: the signalling or WHIP URL, STUN and TURN servers
//! and the local ICE addresses, each checked with an error that names the property and the fix.

use std::net::IpAddr;

use crate::transport::url::UrlError;

const SIGNALLING_EXAMPLE: &str = "ws://127.0.0.1:8443";
const WHIP_EXAMPLE: &str = "https://whip.example.com/whip/endpoint";

/// Where a WebRTC stream goes and how ICE is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebrtcTarget {
    /// mode=whip: `url` is a WHIP endpoint; otherwise a gst-plugins-rs signalling server.
    pub whip: bool,
    pub url: String,
    pub stun_server: Option<String>,
    pub turn_servers: Vec<String>,
    /// Addresses libnice gathers candidates on; empty = every interface but loopback.
    pub ice_addresses: Vec<IpAddr>,
    /// mode=whip: `Authorization: Bearer` token.
    pub bearer_token: Option<String>,
    /// Shown to viewers as the producer's `name` (stream-name).
    pub name: String,
    /// webrtcsink encodes per viewer (congestion control) instead of the bin encoding once.
    pub per_viewer: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IceError {
    #[error("stun-server '{0}' is not a STUN URL. Fix: use stun://host:port, e.g. stun://stun.example.com:3478, or leave it empty (no STUN)")]
    Stun(String),
    #[error("turn-servers: '{0}' is not a TURN URL. Fix: use turn://user:password@host:port or turns://..., several separated by commas")]
    Turn(String),
    #[error("ice-addresses: '{0}' is not an IP address. Fix: list local IP addresses separated by commas, e.g. 127.0.0.1 for loopback-only tests, or leave it empty (every interface)")]
    Address(String),
}

/// Checks `url` for mode=webrtc (ws:// or wss://) or mode=whip (http:// or https://).
pub fn check_url(url: &str, whip: bool) -> Result<(), UrlError> {
    let (schemes, expected, example): (&[&str], _, _) = if whip {
        (
            &["http://", "https://"],
            "http:// or https://",
            WHIP_EXAMPLE,
        )
    } else {
        (&["ws://", "wss://"], "ws:// or wss://", SIGNALLING_EXAMPLE)
    };
    let url = url.trim();
    if url.is_empty() {
        return Err(UrlError::Empty { example });
    }
    let shown = shown(url);
    let Some(rest) = schemes.iter().find_map(|s| {
        url.get(..s.len())
            .filter(|p| p.eq_ignore_ascii_case(s))
            .map(|_| &url[s.len()..])
    }) else {
        return Err(UrlError::Scheme {
            shown,
            expected,
            example,
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return Err(UrlError::NoHost { shown, example });
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|n| n > 0) {
            return Err(UrlError::Port {
                shown,
                port: p.to_string(),
            });
        }
    }
    Ok(())
}

/// The options a WebRTC or WHIP destination carries in its URL's fragment (never sent to the server):
/// `#bearer-token=TOKEN` (WHIP) and `#name=PRODUCER` (WebRTC: the producer name viewers see), separated
/// by `&`. Returns the URL without its fragment and the options.
pub fn fragment_options(
    url: &str,
    whip: bool,
) -> Result<(String, Vec<(String, String)>), UrlError> {
    let url = url.trim();
    let Some((base, fragment)) = url.split_once('#') else {
        return Ok((url.to_string(), Vec::new()));
    };
    let allowed = if whip { "bearer-token" } else { "name" };
    let mut options = Vec::new();
    for pair in fragment.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != allowed || value.is_empty() {
            return Err(UrlError::UnknownOption {
                shown: shown(base),
                key: key.to_string(),
                allowed: if whip {
                    "#bearer-token=TOKEN"
                } else {
                    "#name=PRODUCER-NAME"
                },
            });
        }
        options.push((key.to_string(), value.to_string()));
    }
    Ok((base.to_string(), options))
}

/// `host[:port]`, with `[v6]:port` brackets understood.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(v6) = s.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (v6, None),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    }
}

/// The URL as shown in errors: user information and query (where tokens live) cut out.
pub fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => format!("<redacted>@{h}"),
        None => authority.to_string(),
    };
    let query = if url.contains('?') { "?<redacted>" } else { "" };
    if scheme.is_empty() {
        format!("{host}{path}{query}")
    } else {
        format!("{scheme}://{host}{path}{query}")
    }
}

pub fn parse_stun(s: &str) -> Result<Option<String>, IceError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let rest = s
        .strip_prefix("stun://")
        .ok_or_else(|| IceError::Stun(s.to_string()))?;
    let (host, port) = split_host_port(rest);
    if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(IceError::Stun(s.to_string()));
    }
    Ok(Some(s.to_string()))
}

/// Comma-separated TURN URLs. Errors show the URL with its credentials cut out.
pub fn parse_turn(s: &str) -> Result<Vec<String>, IceError> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let ok = ["turn://", "turns://"].iter().any(|p| {
                t.strip_prefix(p).is_some_and(|rest| {
                    let host = rest.rsplit('@').next().unwrap_or_default();
                    !split_host_port(host.split(['/', '?']).next().unwrap_or_default())
                        .0
                        .is_empty()
                })
            });
            if ok {
                Ok(t.to_string())
            } else {
                Err(IceError::Turn(shown(t)))
            }
        })
        .collect()
}

/// The secrets of TURN URLs (user and password), for the redactor.
pub fn turn_secrets(turn: &[String]) -> Vec<String> {
    turn.iter()
        .filter_map(|t| {
            let rest = t.split_once("://")?.1;
            let (userinfo, _) = rest.rsplit_once('@')?;
            Some(userinfo.to_string())
        })
        .flat_map(|u| {
            let mut v = vec![u.clone()];
            if let Some((user, pass)) = u.split_once(':') {
                v.push(user.to_string());
                v.push(pass.to_string());
            }
            v
        })
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn parse_addresses(s: &str) -> Result<Vec<IpAddr>, IceError> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().map_err(|_| IceError::Address(a.to_string())))
        .collect()
}

/// Whether a viewer's SDP answer leaves it without video: every video m-line is refused (port 0) or
/// carries no H.264.
pub fn answer_refuses_h264(sdp: &str) -> bool {
    let mut video_ok = false;
    let mut in_video = false;
    let mut port_ok = false;
    let mut h264 = false;
    let mut close = |in_video: bool, port_ok: bool, h264: bool| {
        video_ok |= in_video && port_ok && h264;
    };
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            close(in_video, port_ok, h264);
            let mut parts = media.split_whitespace();
            in_video = parts.next() == Some("video");
            port_ok = parts.next().is_some_and(|p| p != "0");
            h264 = false;
        } else if in_video && line.starts_with("a=rtpmap:") {
            h264 |= line
                .split_whitespace()
                .nth(1)
                .is_some_and(|enc| enc.to_ascii_uppercase().starts_with("H264/"));
        }
    }
    close(in_video, port_ok, h264);
    !video_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalling_and_whip_urls() {
        assert!(check_url("ws://127.0.0.1:8443", false).is_ok());
        assert!(check_url("wss://signal.example.com/path", false).is_ok());
        assert!(check_url("http://[::1]:8080/whip/endpoint", true).is_ok());
        let e = check_url("http://127.0.0.1:8443", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ws:// or wss://") && e.contains("Fix:"), "{e}");
        let e = check_url("ws://127.0.0.1:8443", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        let e = check_url("ws://:99999", false).unwrap_err().to_string();
        assert!(e.contains("no host"), "{e}");
        let e = check_url("ws://h:99999", false).unwrap_err().to_string();
        assert!(e.contains("invalid port '99999'"), "{e}");
        assert!(matches!(check_url("", true), Err(UrlError::Empty { .. })));
    }

    #[test]
    fn urls_in_errors_lose_credentials_and_query() {
        let e = check_url("ftp://user:secret@h/whip?token=abc", true)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret") && !e.contains("abc"), "{e}");
        assert_eq!(
            shown("https://u:p@h:1/x?t=1"),
            "https://<redacted>@h:1/x?<redacted>"
        );
    }

    #[test]
    fn options_in_the_fragment() {
        let (url, o) = fragment_options("https://h/whip#bearer-token=T0K", true).unwrap();
        assert_eq!(url, "https://h/whip");
        assert_eq!(o, vec![("bearer-token".to_string(), "T0K".to_string())]);
        let (url, o) = fragment_options("ws://h:8443#name=cam2", false).unwrap();
        assert_eq!((url.as_str(), o[0].1.as_str()), ("ws://h:8443", "cam2"));
        let e = fragment_options("https://h/whip#token=T0K", true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("#bearer-token=TOKEN") && !e.contains("T0K"),
            "{e}"
        );
    }

    #[test]
    fn stun_turn_and_addresses() {
        assert_eq!(parse_stun(""), Ok(None));
        assert_eq!(
            parse_stun("stun://stun.example.com:3478"),
            Ok(Some("stun://stun.example.com:3478".into()))
        );
        assert!(parse_stun("stun.example.com").is_err());
        let turn =
            parse_turn("turn://alice:pw1@t.example.com:3478, turns://t2.example.com").unwrap();
        assert_eq!(turn.len(), 2);
        assert_eq!(turn_secrets(&turn), vec!["alice:pw1", "alice", "pw1"]);
        let e = parse_turn("turn://bob:hunter2@").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && e.contains("turn-servers"), "{e}");
        assert_eq!(
            parse_addresses("127.0.0.1, ::1").unwrap(),
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
        let e = parse_addresses("localhost").unwrap_err().to_string();
        assert!(
            e.contains("ice-addresses") && e.contains("127.0.0.1"),
            "{e}"
        );
    }

    #[test]
    fn answers_with_and_without_h264() {
        let ok = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n\
                  m=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 OPUS/48000/2\r\n";
        assert!(!answer_refuses_h264(ok));
        let vp8 = ok.replace("H264/90000", "VP8/90000");
        assert!(answer_refuses_h264(&vp8));
        let refused = ok.replace("m=video 9", "m=video 0");
        assert!(answer_refuses_h264(&refused));
        assert!(answer_refuses_h264("v=0\r\nm=audio 9 RTP/AVP 97\r\n"));
    }
}

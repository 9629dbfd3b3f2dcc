//! RTMP destination URLs: `rtmp://` / `rtmps://` as TouchDesigner takes them, `{service url}/{stream key}`,
//! with optional `user:password@`. The stream key (with any query of its own) and the password are
//! kept apart so that [`RtmpTarget::redacted`] can be logged.

use crate::secrets::REDACTED;
use crate::transport::url::{parse_authority, split_authority, Authority, UrlError};

/// An RTMP destination, split so that the secret parts can be shown redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpTarget {
    /// `rtmp` or `rtmps`.
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    /// The application path (`app`, `live2`, `app/sub`).
    pub app: String,
    /// The stream key, including any query (`name?key=...` for nginx-rtmp publish auth). Secret.
    pub stream_key: String,
    pub username: Option<String>,
    /// Secret.
    pub password: Option<String>,
}

pub const EXAMPLE: &str = "rtmp://live.example.com/app/STREAM-KEY";
/// nanocosmos' RTMP writer takes `rtmp:host/application+streamname`; users moving from it paste that
/// form. It means `rtmp://host/application/streamname`.
fn from_nanocosmos(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once(':')?;
    if !(scheme.eq_ignore_ascii_case("rtmp") || scheme.eq_ignore_ascii_case("rtmps"))
        || rest.starts_with("//")
    {
        return None;
    }
    let (host_app, name) = rest.rsplit_once('+')?;
    Some(format!("{scheme}://{host_app}/{name}"))
}

impl RtmpTarget {
    pub fn parse(url: &str) -> Result<RtmpTarget, UrlError> {
        let nanocosmos = from_nanocosmos(url);
        let url = nanocosmos.as_deref().unwrap_or(url);
        let (scheme, authority, rest) =
            split_authority(url, &["rtmps", "rtmp"], "rtmp:// or rtmps://", EXAMPLE)?;
        let shown_authority = match authority.rfind('@') {
            Some(i) => format!("{REDACTED}@{}", &authority[i + 1..]),
            None => authority.to_string(),
        };
        let shown = format!("{scheme}://{shown_authority}/…");
        let Authority {
            user: username,
            pass: password,
            host,
            port,
        } = parse_authority(authority, &shown)?;
        if host.is_empty() {
            return Err(UrlError::NoHost {
                shown,
                example: EXAMPLE,
            });
        }
        let path = rest.trim_start_matches('/');
        // The stream key is the last path segment (with any query); the application is the rest.
        let (app, key) = match path.split_once('?') {
            Some((p, q)) => match p.rsplit_once('/') {
                Some((app, name)) => (app.to_string(), format!("{name}?{q}")),
                None => (String::new(), format!("{p}?{q}")),
            },
            None => match path.rsplit_once('/') {
                Some((app, name)) => (app.to_string(), name.to_string()),
                None => (path.to_string(), String::new()),
            },
        };
        if app.is_empty() || key.is_empty() || key.starts_with('?') {
            return Err(UrlError::NoStreamKey { shown });
        }
        Ok(RtmpTarget {
            scheme: scheme.to_string(),
            host,
            port,
            app,
            stream_key: key,
            username,
            password,
        })
    }

    /// The port connected to: the URL's, else RTMP's 1935 (RTMPS: 443).
    pub fn port_or_default(&self) -> u16 {
        let default = if self.scheme == "rtmps" { 443 } else { 1935 };
        self.port.unwrap_or(default)
    }

    /// `host[:port]`, with IPv6 hosts bracketed.
    fn hostport(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// `user:<redacted>@host:port` (or just `host:port`).
    fn authority_redacted(&self) -> String {
        let hostport = self.hostport();
        match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{u}:{REDACTED}@{hostport}"),
            (Some(u), None) => format!("{u}@{hostport}"),
            _ => hostport,
        }
    }

    /// The location for `rtmp2sink`, without userinfo (credentials go to its properties).
    pub fn location(&self) -> String {
        format!(
            "{}://{}/{}/{}",
            self.scheme,
            self.hostport(),
            self.app,
            self.stream_key
        )
    }

    /// The URL with the stream key and password replaced, safe to log.
    pub fn redacted(&self) -> String {
        format!(
            "{}://{}/{}/{REDACTED}",
            self.scheme,
            self.authority_redacted(),
            self.app
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_splits_service_url_and_stream_key() {
        let t =
            RtmpTarget::parse("rtmp://live-yto.twitch.tv/app/live_1234567_abcdefSECRET").unwrap();
        assert_eq!(t.host, "live-yto.twitch.tv");
        assert_eq!(t.app, "app");
        assert_eq!(t.stream_key, "live_1234567_abcdefSECRET");
        assert_eq!(
            t.location(),
            "rtmp://live-yto.twitch.tv/app/live_1234567_abcdefSECRET"
        );
        assert!(!t.redacted().contains("SECRET"));
    }

    #[test]
    fn rtmp_keeps_query_with_the_key_and_userinfo_apart() {
        let t =
            RtmpTarget::parse("rtmp://bob:hunter22@127.0.0.1:1936/live/cam?key=s3cret").unwrap();
        assert_eq!(t.port, Some(1936));
        assert_eq!(t.stream_key, "cam?key=s3cret");
        assert_eq!(t.username.as_deref(), Some("bob"));
        assert_eq!(t.password.as_deref(), Some("hunter22"));
        assert_eq!(t.location(), "rtmp://127.0.0.1:1936/live/cam?key=s3cret");
        let r = t.redacted();
        assert!(!r.contains("s3cret") && !r.contains("hunter22"), "{r}");
    }

    #[test]
    fn the_port_connected_to() {
        let port = |u: &str| RtmpTarget::parse(u).unwrap().port_or_default();
        assert_eq!(port("rtmp://h/app/k"), 1935);
        assert_eq!(port("rtmps://h/app/k"), 443);
        assert_eq!(port("rtmp://h:19350/app/k"), 19350);
    }

    #[test]
    fn nanocosmos_form_means_application_then_stream_name() {
        let t = RtmpTarget::parse("rtmp:127.0.0.1/live+myStream").unwrap();
        assert_eq!(t.location(), "rtmp://127.0.0.1/live/myStream");
        assert_eq!(t.redacted(), "rtmp://127.0.0.1/live/<redacted>");
        let t = RtmpTarget::parse("rtmps:h:443/app/sub+KEY?x=1").unwrap();
        assert_eq!(
            (t.app.as_str(), t.stream_key.as_str()),
            ("app/sub", "KEY?x=1")
        );
    }

    #[test]
    fn service_keys_with_their_own_query_reach_the_server_whole() {
        let url = "rtmps://live-api-s.facebook.com:443/rtmp/FB-1234-0-AbCd?s_bl=1&s_psm=1&s_sc=1&s_sw=0&s_vt=api-s&a=AbXyZ";
        let t = RtmpTarget::parse(url).unwrap();
        assert_eq!(t.location(), url);
        assert_eq!(
            t.stream_key,
            "FB-1234-0-AbCd?s_bl=1&s_psm=1&s_sc=1&s_sw=0&s_vt=api-s&a=AbXyZ"
        );
        let r = t.redacted();
        assert!(
            !r.contains("FB-1234") && !r.contains("AbXyZ") && !r.contains("s_bl"),
            "{r}"
        );
    }

    #[test]
    fn rtmp_errors_name_the_fix_without_the_key() {
        let e = RtmpTarget::parse("http://x/app/SECRETKEY")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("url 'http://x/app/<redacted>'")
                && e.contains("rtmp://")
                && !e.contains("SECRETKEY"),
            "{e}"
        );
        let e = RtmpTarget::parse("rtmp://host/app").unwrap_err();
        assert!(matches!(e, UrlError::NoStreamKey { .. }), "{e}");
        let e = RtmpTarget::parse("rtmp:///app/key").unwrap_err();
        assert!(matches!(e, UrlError::NoHost { .. }), "{e}");
        let e = RtmpTarget::parse("rtmp://h:99999/app/key").unwrap_err();
        assert!(matches!(e, UrlError::Port { .. }), "{e}");
        assert!(matches!(
            RtmpTarget::parse("  ").unwrap_err(),
            UrlError::Empty { .. }
        ));
    }
}

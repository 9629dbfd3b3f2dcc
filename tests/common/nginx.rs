//! A real nginx with the RTMP module on 127.0.0.1, configured per test, stopped by pid.

use super::{free_port, tmpdir, wait_tcp, Peer};
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Nginx {
    _peer: Peer,
    pub port: u16,
    /// With [`nginx_tls`]: the port where nginx's stream module terminates TLS in front of RTMP.
    pub tls_port: Option<u16>,
    dir: std::path::PathBuf,
}

impl Nginx {
    /// The server process's id (to stop it with SIGSTOP: a server that no longer reads).
    pub fn pid(&self) -> u32 {
        self._peer.child.id()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx with the RTMP module, app `live`, optionally asking `auth_port` on every publish.
pub fn nginx(auth_port: Option<u16>) -> Nginx {
    nginx_at(free_port(), auth_port)
}

/// The same on a given port (e.g. to restart a server that was stopped).
pub fn nginx_at(port: u16, auth_port: Option<u16>) -> Nginx {
    nginx_with(port, auth_port, "")
}

/// nginx as it must be set up to relay Enhanced RTMP (H.265/AV1): `wait_key off`. Its default
/// (`wait_key on`) waits for a legacy FLV keyframe byte, which an enhanced video tag never has, so players
/// would get no video at all.
pub fn nginx_enhanced() -> Nginx {
    nginx_with(free_port(), None, "wait_key off;")
}

/// nginx-rtmp that relays the publisher's own onMetaData to its players (`meta copy`), updates included;
/// its default (`meta on`) sends players an onMetaData it builds itself, without custom fields.
pub fn nginx_meta_copy() -> Nginx {
    nginx_with(free_port(), None, "meta copy;")
}

/// An origin nginx-rtmp that pushes every stream it receives on to the edge server at `edge` (the
/// README's cluster example: `push rtmp://EDGE/live;`); players read from the edge.
pub fn nginx_pushing_to(edge: u16) -> Nginx {
    nginx_with(
        free_port(),
        None,
        &format!("push rtmp://127.0.0.1:{edge}/live;"),
    )
}

/// nginx-rtmp behind an RTMPS endpoint: nginx's stream module (libnginx-mod-stream) terminates TLS on
/// `tls_port` with a self-signed certificate made by openssl for 127.0.0.1, and passes the plain RTMP
/// on to `port`. The certificate is trusted by nobody, as a private server's would be.
pub fn nginx_tls() -> Nginx {
    let dir = tmpdir("nginx-tls");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (run ./run setup first)");
    assert!(made.success(), "openssl could not make a certificate");
    let tls_port = free_port();
    let stream = format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         stream {{ server {{ listen 127.0.0.1:{tls_port} ssl; ssl_certificate {cert}; \
         ssl_certificate_key {key}; proxy_pass 127.0.0.1:PORT; }} }}\n",
        cert = dir.join("cert.pem").display(),
        key = dir.join("key.pem").display(),
    );
    let mut n = nginx_in(dir, free_port(), None, "", &stream);
    assert!(
        wait_tcp(tls_port, Duration::from_secs(10)),
        "nginx did not listen on {tls_port} (TLS)"
    );
    n.tls_port = Some(tls_port);
    n
}

fn nginx_with(port: u16, auth_port: Option<u16>, extra: &str) -> Nginx {
    nginx_in(tmpdir("nginx"), port, auth_port, extra, "")
}

fn nginx_in(
    dir: std::path::PathBuf,
    port: u16,
    auth_port: Option<u16>,
    extra: &str,
    stream: &str,
) -> Nginx {
    let on_publish = auth_port
        .map(|p| format!("on_publish http://127.0.0.1:{p}/on_publish; notify_method post;"))
        .unwrap_or_default();
    let stream = stream.replace("PORT", &port.to_string());
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n{stream}\
         daemon off; master_process off; worker_processes 1; pid nginx.pid; error_log stderr warn;\n\
         events {{ worker_connections 64; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
           application live {{ live on; record off; {extra} {on_publish} }} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let peer = Peer::spawn(
        "nginx",
        Command::new("nginx")
            .args([
                "-p",
                dir.to_str().expect("dir"),
                "-c",
                "nginx.conf",
                "-e",
                "stderr",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(
        wait_tcp(port, Duration::from_secs(10)),
        "nginx did not listen on {port}"
    );
    Nginx {
        _peer: peer,
        port,
        tls_port: None,
        dir,
    }
}

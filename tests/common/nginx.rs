//! A real nginx with the RTMP module on 127.0.0.1, configured per test, stopped by pid.

use super::{free_port, tmpdir, wait_tcp, Peer};
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Nginx {
    _peer: Peer,
    pub port: u16,
    dir: std::path::PathBuf,
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

fn nginx_with(port: u16, auth_port: Option<u16>, extra: &str) -> Nginx {
    let dir = tmpdir("nginx");
    let on_publish = auth_port
        .map(|p| format!("on_publish http://127.0.0.1:{p}/on_publish; notify_method post;"))
        .unwrap_or_default();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
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
        dir,
    }
}

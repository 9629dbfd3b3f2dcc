//! One gst-rtsp-server per (address, port) in the process, shared by every `rtspsharedserver`
//! (and `nvencstreamsink mode=rtsp-server`) that uses that port.
//!
//! The first user starts the server on its own GLib main-context thread (so it works in gst-launch-1.0
//! and in applications without a main loop); each user adds one mount, held by a [`Mount`] guard; the
//! last guard to go stops the server, closes its clients and frees the port.

use super::prepared::PreparedMedia;
use gst::glib;
use gst_rtsp_server::gio;
use gst_rtsp_server::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::Duration;
use tdstream_common::display::shown;
use tdstream_common::sync::lock;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error(
        "port {port} on {address} is in use by another process. Fix: set port to a free port, or stop \
         the program that holds it (ss -ltnp 'sport = :{port}' shows which)"
    )]
    PortInUse { address: String, port: u16 },
    #[error("cannot listen on {address}:{port}: {reason}. Fix: choose another port or address")]
    Bind {
        address: String,
        port: u16,
        reason: String,
    },
    #[error(
        "stream-name '{name}' is already served on port {port} in this process. Fix: give each stream \
         on a port its own stream-name"
    )]
    NameTaken { name: String, port: u16 },
    #[error(
        "port {port} already serves {existing} in this process; every stream on one port must use the same \
         tls-certificate. Fix: use another port, or the same tls-certificate"
    )]
    TlsMismatch { port: u16, existing: &'static str },
    #[error(
        "tls-certificate '{path}' cannot be used: {reason}. Fix: give a PEM file that holds the certificate \
         and its private key"
    )]
    Certificate { path: String, reason: String },
    #[error("the RTSP server on {address}:{port} could not start: {reason}")]
    Start {
        address: String,
        port: u16,
        reason: String,
    },
}

type Key = (String, u16);

static REGISTRY: LazyLock<Mutex<HashMap<Key, Weak<SharedServer>>>> =
    LazyLock::new(Default::default);
/// Servers being torn down: a new acquire of the same key waits until their port is released.
static CLOSING: LazyLock<(Mutex<HashSet<Key>>, Condvar)> = LazyLock::new(Default::default);
const CLOSE_WAIT: Duration = Duration::from_secs(10);
const MAX_MEDIA_THREADS: i32 = 64;
const SESSION_CLEANUP: Duration = Duration::from_secs(1);

fn wait_until_closed(key: &Key) {
    let (set, cond) = &*CLOSING;
    let guard = lock(set);
    let _ = cond.wait_timeout_while(guard, CLOSE_WAIT, |closing| closing.contains(key));
}

pub fn normalize_address(address: &str) -> String {
    if address.is_empty() {
        "0.0.0.0".to_string()
    } else {
        address.to_string()
    }
}

pub struct SharedServer {
    pub address: String,
    pub port: u16,
    server: gst_rtsp_server::RTSPServer,
    auth: gst_rtsp_server::RTSPAuth,
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    source: Mutex<Option<glib::SourceId>>,
    cleanup: Mutex<Option<glib::SourceId>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    names: Mutex<HashSet<String>>,
    /// The RTSPS certificate file, when this port serves RTSPS.
    pub tls: Option<String>,
}

/// The server for (address, port), started if it does not run yet. `tls` is the PEM file for RTSPS;
/// all users of one port must agree on it.
pub fn acquire(
    address: &str,
    port: u16,
    tls: Option<&str>,
) -> Result<Arc<SharedServer>, RegistryError> {
    let address = normalize_address(address);
    let key = (address.clone(), port);
    wait_until_closed(&key);
    let mut registry = lock(&REGISTRY);
    if let Some(server) = registry.get(&key).and_then(Weak::upgrade) {
        if server.tls.as_deref() != tls {
            let existing = if server.tls.is_some() {
                "RTSPS with another certificate"
            } else {
                "plain RTSP"
            };
            return Err(RegistryError::TlsMismatch { port, existing });
        }
        return Ok(server);
    }
    let certificate = match tls {
        Some(path) => Some(gio::TlsCertificate::from_file(path).map_err(|e| {
            // GIO's reason repeats the path: both shortened, so that a long path is shown once, cut.
            RegistryError::Certificate {
                path: shown(path),
                reason: e.to_string().replace(path, &shown(path)),
            }
        })?),
        None => None,
    };
    // Ask the OS first, to tell "in use" from other bind errors.
    if let Err(e) = std::net::TcpListener::bind((address.as_str(), port)) {
        return Err(if e.kind() == std::io::ErrorKind::AddrInUse {
            RegistryError::PortInUse {
                address: shown(&address),
                port,
            }
        } else {
            RegistryError::Bind {
                address: shown(&address),
                port,
                reason: e.to_string(),
            }
        });
    }
    let server = SharedServer::start(&address, port, tls, certificate)?;
    registry.insert(key, Arc::downgrade(&server));
    Ok(server)
}

impl SharedServer {
    fn start(
        address: &str,
        port: u16,
        tls: Option<&str>,
        certificate: Option<gio::TlsCertificate>,
    ) -> Result<Arc<SharedServer>, RegistryError> {
        let start_err = |reason: String| RegistryError::Start {
            address: shown(address),
            port,
            reason,
        };
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address(address);
        server.set_service(&port.to_string());
        // One media thread per stream: with the default pool of one shared thread, two medias that
        // prepare at the same time (two mounts joined at once) could wait on each other.
        if let Some(pool) = server.thread_pool() {
            pool.set_max_threads(MAX_MEDIA_THREADS);
        }
        // Every mount is checked against this auth: anonymous clients get the "anonymous" role, which
        // mounts without auth-users grant.
        let auth = gst_rtsp_server::RTSPAuth::new();
        let mut anonymous = gst_rtsp_server::RTSPToken::builder()
            .field("media.factory.role", "anonymous")
            .build();
        auth.set_default_token(Some(&mut anonymous));
        // Basic and Digest both (a bitmask in C; the Rust binding types it as a plain enum).
        // SAFETY: a valid RTSPAuth and a valid method mask.
        unsafe {
            use glib::translate::ToGlibPtr;
            gst_rtsp_server::ffi::gst_rtsp_auth_set_supported_methods(
                auth.to_glib_none().0,
                gst_rtsp::ffi::GST_RTSP_AUTH_BASIC | gst_rtsp::ffi::GST_RTSP_AUTH_DIGEST,
            );
        }
        if let Some(cert) = &certificate {
            // RTSPS: every connection to this port is TLS.
            auth.set_tls_certificate(Some(cert));
        }
        server.set_auth(Some(&auth));
        let context = glib::MainContext::new();
        let source = server
            .attach(Some(&context))
            .map_err(|e| start_err(e.to_string()))?;
        // Sessions of clients that vanished without TEARDOWN expire only when the pool is cleaned up:
        // gst-rtsp-server leaves that to the application.
        let cleanup = {
            let pool = server.session_pool();
            let source = glib::timeout_source_new(
                SESSION_CLEANUP,
                None,
                glib::Priority::DEFAULT,
                move || {
                    if let Some(pool) = &pool {
                        pool.cleanup();
                    }
                    glib::ControlFlow::Continue
                },
            );
            source.attach(Some(&context))
        };
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = {
            let (ctx, ml) = (context.clone(), main_loop.clone());
            std::thread::Builder::new()
                .name(format!("rtsp-server-{port}"))
                .spawn(move || {
                    let _ = ctx.with_thread_default(|| ml.run());
                })
                .map_err(|e| start_err(e.to_string()))?
        };
        Ok(Arc::new(SharedServer {
            address: address.to_string(),
            port,
            server,
            auth,
            context,
            main_loop,
            source: Mutex::new(Some(source)),
            cleanup: Mutex::new(Some(cleanup)),
            thread: Mutex::new(Some(thread)),
            names: Mutex::new(HashSet::new()),
            tls: tls.map(str::to_string),
        }))
    }

    pub fn context(&self) -> &glib::MainContext {
        &self.context
    }

    pub fn server(&self) -> &gst_rtsp_server::RTSPServer {
        &self.server
    }

    /// Reserves `name` on this server; the mount itself is added with [`Mount::publish`] once the
    /// stream's caps are known.
    pub fn reserve(self: &Arc<Self>, name: &str) -> Result<Mount, RegistryError> {
        let mut names = lock(&self.names);
        if !names.insert(name.to_string()) {
            return Err(RegistryError::NameTaken {
                name: name.to_string(),
                port: self.port,
            });
        }
        Ok(Mount {
            server: Arc::clone(self),
            name: name.to_string(),
            published: false,
            media: None,
        })
    }
}

impl Drop for SharedServer {
    fn drop(&mut self) {
        // Never hold the registry while tearing down (the server thread may take a moment): mark the
        // key as closing instead, so a new acquire of this port waits for the release.
        let key = (self.address.clone(), self.port);
        lock(&CLOSING.0).insert(key.clone());
        self.server
            .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        for id in [lock(&self.source).take(), lock(&self.cleanup).take()]
            .into_iter()
            .flatten()
        {
            if let Some(source) = self.context.find_source_by_id(&id) {
                source.destroy();
            }
        }
        // Quit from inside the loop: a quit() before the thread entered run() would be lost.
        let main_loop = self.main_loop.clone();
        self.context.invoke(move || main_loop.quit());
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        lock(&CLOSING.0).remove(&key);
        CLOSING.1.notify_all();
    }
}

/// One mount on a shared server; removed (and its clients' sessions closed) when dropped.
pub struct Mount {
    server: Arc<SharedServer>,
    name: String,
    published: bool,
    /// The mount's shared media, prepared at publish time; unprepared after the mount is removed.
    media: Option<PreparedMedia>,
}

impl Mount {
    pub fn path(&self) -> String {
        format!("/{}", self.name)
    }

    pub fn server(&self) -> &Arc<SharedServer> {
        &self.server
    }

    /// Client sessions that play this mount.
    pub fn clients(&self) -> u32 {
        let mut n = 0u32;
        self.filter_sessions(|| {
            n += 1;
            gst_rtsp_server::RTSPFilterResult::Keep
        });
        n
    }

    /// Applies `decide` to every client session that plays this mount; the others are kept.
    fn filter_sessions(&self, mut decide: impl FnMut() -> gst_rtsp_server::RTSPFilterResult) {
        let path = self.path();
        if let Some(pool) = self.server.server.session_pool() {
            pool.filter(Some(&mut |_, session| {
                let mut ours = false;
                session.filter(Some(&mut |_, media| {
                    ours |= media.matches(&path).is_some();
                    gst_rtsp_server::RTSPFilterResult::Keep
                }));
                if ours {
                    decide()
                } else {
                    gst_rtsp_server::RTSPFilterResult::Keep
                }
            }));
        }
    }

    /// The worst packet loss the clients report in their RTCP receiver reports (0..1), over every
    /// stream of the mount's shared media.
    pub fn receiver_loss(&self) -> f64 {
        let Some(media) = self.media.as_ref().and_then(|m| m.media()) else {
            return 0.0;
        };
        let mut worst = 0.0f64;
        for i in 0..media.n_streams() {
            let Some(session) = media.stream(i).and_then(|s| s.rtpsession()) else {
                continue;
            };
            if session.find_property("stats").is_none() {
                continue;
            }
            let stats = session.property::<gst::Structure>("stats");
            worst = worst.max(crate::rtsp::rtcp::worst_fraction_lost(&stats));
        }
        worst
    }

    /// Adds the factory at `/name` and prepares its shared media; `on_ready` gets the outcome of
    /// that preparation. With `users`, only they may play it (Basic or Digest); without, anyone may.
    pub fn publish(
        &mut self,
        factory: &gst_rtsp_server::RTSPMediaFactory,
        users: &[(String, String)],
        on_ready: impl FnOnce(Result<(), String>) + Send + 'static,
    ) {
        let allow = |role: &str| {
            gst::Structure::builder(role)
                .field("media.factory.access", true)
                .field("media.factory.construct", true)
                .build()
        };
        if users.is_empty() {
            factory.add_role_from_structure(&allow("anonymous"));
        } else {
            // Anonymous (or wrong-password) clients may see that the mount exists but not build it:
            // gst-rtsp-server then answers 401 with the Basic/Digest challenge, not 404.
            factory.add_role_from_structure(
                &gst::Structure::builder("anonymous")
                    .field("media.factory.access", true)
                    .field("media.factory.construct", false)
                    .build(),
            );
        }
        // Role names are structure names (a letter first, no spaces), so not the users' names; and unique
        // in the process, so that credentials for one mount never open another on the same server.
        static ROLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        for (user, pass) in users {
            let n = ROLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let role = format!("user{n}");
            let token = gst_rtsp_server::RTSPToken::builder()
                .field("media.factory.role", role.as_str())
                .build();
            let basic = gst_rtsp_server::RTSPAuth::make_basic(user, pass);
            self.server.auth.add_basic(&basic, &token);
            self.server.auth.add_digest(user, pass, &token);
            factory.add_role_from_structure(&allow(&role));
        }
        if let Some(mounts) = self.server.server.mount_points() {
            mounts.add_factory(&self.path(), factory.clone());
            self.published = true;
            // Clients look the shared media up by port and path, whatever host they name.
            let url = format!("rtsp://127.0.0.1:{}{}", self.server.port, self.path());
            self.media = Some(PreparedMedia::start(factory, &url, on_ready));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.published {
            if let Some(mounts) = self.server.server.mount_points() {
                mounts.remove_factory(&self.path());
            }
            // Close the sessions that play this mount; the other mounts' clients stay.
            self.filter_sessions(|| gst_rtsp_server::RTSPFilterResult::Remove);
        }
        lock(&self.server.names).remove(&self.name);
    }
}

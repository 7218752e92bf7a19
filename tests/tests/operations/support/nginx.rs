//! nginx from the machine's packages, running the repository's `deploy/nginx/bulwark.conf`
//! with this test's ports and certificate paths substituted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Pki, free_port};

/// The nginx binary, if installed.
pub fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// How nginx forwards the client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertHeader {
    /// URL-encoded PEM in `X-SSL-Client-Cert` (`[mtls] header`).
    Pem,
    /// RFC 9440 `Client-Cert`, made by `deploy/nginx/rfc9440.js` (njs).
    Rfc9440,
}

/// nginx's njs module, if installed.
pub fn njs_module() -> Option<PathBuf> {
    [
        "/usr/lib/nginx/modules/ngx_http_js_module.so",
        "/usr/lib64/nginx/modules/ngx_http_js_module.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A running nginx.
pub struct Nginx {
    /// Its TLS port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    /// The port the load balancer will listen on (the nodes' issuer names it first).
    pub fn reserve_port() -> u16 {
        free_port()
    }

    /// Starts nginx on `port` in front of the node ports `upstreams`, forwarding the
    /// certificate as `variant` says.
    pub async fn start(port: u16, upstreams: &[u16], pki: &Pki, variant: CertHeader) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/nginx/bulwark.conf"
        ))
        .unwrap();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        let site = shipped
            .replace(
                "    server 10.0.0.11:8443 max_fails=1 fail_timeout=5s;\n    server 10.0.0.12:8443 max_fails=1 fail_timeout=5s;\n",
                &servers,
            )
            .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
            .replace("/etc/bulwark/tls/server.pem", &pki.server_cert.display().to_string())
            .replace("/etc/bulwark/tls/server.key", &pki.server_key.display().to_string())
            .replace("/etc/bulwark/tls/nodes-ca.pem", &pki.server_ca.display().to_string())
            .replace("proxy_ssl_name bulwark.internal;", "proxy_ssl_name localhost;");
        assert!(
            site.contains(&servers),
            "the shipped upstream block changed"
        );
        let site = match variant {
            CertHeader::Pem => site,
            // The file's own recipe: enable the RFC9440 lines, delete the PEM ones.
            CertHeader::Rfc9440 => site
                .lines()
                .filter(|l| !l.trim_end().ends_with("# PEM"))
                .map(|l| l.replacen("# RFC9440 ", "", 1))
                .collect::<Vec<_>>()
                .join("\n")
                .replace(
                    "/etc/nginx/conf.d/rfc9440.js",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx/rfc9440.js"),
                ),
        };
        let d = dir.path().display();
        for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.path().join("tmp").join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("bulwark.conf"), site).unwrap();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let modules = match variant {
            CertHeader::Pem => String::new(),
            CertHeader::Rfc9440 => {
                format!("load_module {};\n", njs_module().expect("njs").display())
            }
        };
        let main = format!(
            "{modules}{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
             \x20 include {d}/bulwark.conf;\n}}\n",
            user = if root { "user root;\n" } else { "" },
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new(binary().expect("nginx"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Self { port, dir, child };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.error_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    /// nginx's error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its worker too (a SIGKILLed master leaves the worker
    /// running, orphaned, after the test); SIGKILL if it has not gone within 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

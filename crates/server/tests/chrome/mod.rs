//! A chromedriver process and a headless Chromium session on it, for the browser tests of the
//! PSU pages (`browser.rs`) and the staff console (`staff_browser.rs`): start (skipping with a
//! message outside CI when there is no chromedriver), screenshots kept under
//! `target/browser-artifacts/`, an accessibility audit (axe-core, WCAG 2.2 A and AA) of every
//! page a screenshot is taken of, and the few interactions the tests need.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver process and a WebDriver session on it; both end on drop / `finish`.
pub struct Chrome {
    /// The phone width emulated, in CSS pixels (a window is never narrower than 500).
    emulated_width: Option<u32>,
    driver: Child,
    pub client: Client,
    shots: PathBuf,
    name: &'static str,
    n: u32,
}

/// Where screenshots go.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// axe-core's browser script: `AXE_CORE_JS`, or the copy `.ci/run` installs with `npm ci` in
/// `tests/chrome/axe/`. Outside CI, `None` (saying why, each time) when it is not installed;
/// under `CI=true` a missing copy fails the test.
fn axe_source() -> Option<&'static str> {
    static AXE: OnceLock<Result<String, String>> = OnceLock::new();
    let found = AXE.get_or_init(|| {
        let path = std::env::var_os("AXE_CORE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/chrome/axe/node_modules/axe-core/axe.min.js")
            });
        std::fs::read_to_string(&path)
            .map_err(|e| format!("axe-core is not at {} ({e})", path.display()))
    });
    match found {
        Ok(source) => Some(source),
        Err(why) => {
            assert!(!in_ci(), "CI=true but {why}");
            eprintln!(
                "skipped: the accessibility audit: {why}; \
                 run `npm ci --prefix crates/server/tests/chrome/axe`"
            );
            None
        }
    }
}

/// Runs axe-core on the page (WCAG 2.0, 2.1 and 2.2 A and AA, and axe's best practices:
/// landmarks, headings) and hands WebDriver's callback (the last argument) its violations
/// and its incomplete results (what it could not decide), each as `{id, impact, help, nodes}`.
/// A cell of a table scrolled out of its scrolling region (`.table-wrap`, as on a phone) has
/// a contrast axe cannot see: it is scrolled into view and checked again, and counts as
/// incomplete only if axe still cannot decide.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
const brief = (list) => list.map((v) => ({
  id: v.id,
  impact: v.impact,
  help: v.help,
  nodes: v.nodes.map((n) => n.target.join(" ") + ": " + (n.failureSummary || n.any.map((c) => c.message).join("; "))),
}));
const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];
(async () => {
  const r = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations", "incomplete"] });
  const violations = [...r.violations];
  const incomplete = [];
  const rechecked = [];
  for (const v of r.incomplete) {
    const left = [];
    for (const n of v.nodes) {
      const el = v.id === "color-contrast" && n.target.length === 1 ? document.querySelector(n.target[0]) : null;
      const wrap = el && el.closest(".table-wrap");
      if (!wrap) { left.push(n); continue; }
      const scrolled = [wrap.scrollLeft, wrap.scrollTop, window.scrollX, window.scrollY];
      el.scrollIntoView({ block: "nearest", inline: "nearest" });
      const again = await axe.run(el, { runOnly: { type: "rule", values: ["color-contrast"] }, resultTypes: ["violations", "incomplete", "passes"] });
      [wrap.scrollLeft, wrap.scrollTop] = scrolled;
      window.scrollTo(scrolled[2], scrolled[3]);
      // Decided only when axe now says so for this very cell: a violation, or a pass.
      const about = (list) => list.flatMap((x) => x.nodes).filter((m) => m.target.join(" ") === n.target.join(" "));
      const failed = about(again.violations);
      if (failed.length > 0) {
        const marked = failed.map((m) => ({ ...m, failureSummary: (m.failureSummary || "") + " (checked scrolled into view)" }));
        rechecked.push({ ...again.violations[0], nodes: marked });
      } else if (about(again.passes).length === 0) {
        left.push(n);
      }
    }
    if (left.length > 0) incomplete.push({ ...v, nodes: left });
  }
  return { violations: brief([...violations, ...rechecked]), incomplete: brief(incomplete) };
})().then(done, (e) => done({ error: String(e) }));
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium, or `None` (after saying why) when there is
    /// no chromedriver outside CI.
    pub async fn start(name: &'static str) -> Option<Self> {
        Self::start_sized(name, (1000, 1100)).await
    }

    /// As [`Chrome::start`], with a window of `size` (width, height) pixels.
    pub async fn start_sized(name: &'static str, size: (u32, u32)) -> Option<Self> {
        let port = free_port();
        let driver = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(d) => d,
            Err(e) => {
                if in_ci() {
                    panic!("CI=true but chromedriver cannot be started: {e}");
                }
                eprintln!(
                    "skipped: chromedriver is not on PATH ({e}); install chromium and chromium-driver"
                );
                return None;
            }
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        // Headless Chromium keeps a window at least 500 px wide: a narrower (phone) size is
        // emulated, so the page is laid out at exactly that many CSS pixels.
        let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                          "--ignore-certificate-errors", format!("--window-size={},{}", size.0.max(500), size.1)]});
        if size.0 < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": size.0, "height": size.1, "pixelRatio": 1}});
        }
        caps.insert("goog:chromeOptions".into(), options);
        caps.insert("acceptInsecureCerts".into(), json!(true));
        let mut last = None;
        for _ in 0..50 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        emulated_width: (size.0 < 500).then_some(size.0),
                        driver,
                        client,
                        shots: artifacts(),
                        name,
                        n: 0,
                    });
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("chromedriver did not start a session: {last:?}");
    }

    /// Saves a screenshot of the current page, one of Bulwark's, as `<test>-<n>-<what>.png`,
    /// and audits it: a violation axe-core finds (WCAG A or AA, or a best practice) fails the test (its report
    /// is kept beside the screenshot as `<test>-<n>-<what>.axe.json`).
    pub async fn shot(&mut self, what: &str) {
        self.shot_foreign(what).await;
        self.audit(what).await;
    }

    /// Saves a screenshot of a page that is not Bulwark's (the TPP's), without an audit.
    pub async fn shot_foreign(&mut self, what: &str) {
        self.n += 1;
        let png = self.client.screenshot().await.unwrap();
        let path = self
            .shots
            .join(format!("{}-{}-{what}.png", self.name, self.n));
        std::fs::write(path, png).unwrap();
    }

    /// axe-core's `{violations, incomplete}` for the current page, or `None` when it is not
    /// installed (outside CI). A failure of axe itself fails the test.
    async fn axe(&self) -> Option<serde_json::Value> {
        let axe = axe_source()?;
        // WebDriver's scripts run outside the page's CSP, which admits no script of ours.
        self.client.execute(axe, vec![]).await.unwrap();
        let results = self.client.execute_async(AXE_RUN, vec![]).await.unwrap();
        assert!(results.get("error").is_none(), "axe-core failed: {results}");
        Some(results)
    }

    /// The accessibility audit of the current page: violations, or anything axe-core could
    /// not decide, fail the test.
    async fn audit(&self, what: &str) {
        let Some(results) = self.audit_report(what).await else {
            return;
        };
        assert_eq!(
            results["incomplete"],
            json!([]),
            "axe-core could not decide on the {what} page ({})",
            self.client.current_url().await.unwrap()
        );
        assert_eq!(
            results["violations"],
            json!([]),
            "accessibility violations on the {what} page ({})",
            self.client.current_url().await.unwrap()
        );
    }

    /// Runs the audit [`Chrome::shot`] runs on the current page, keeps its report beside the
    /// screenshots, and returns axe-core's `{violations, incomplete}` (`None` when axe-core
    /// is not installed, outside CI).
    pub async fn audit_report(&self, what: &str) -> Option<serde_json::Value> {
        if let Some(width) = self.emulated_width {
            // Laid out at the phone's width (the page's viewport is the device's).
            let inner = self
                .client
                .execute("return window.innerWidth", vec![])
                .await
                .unwrap();
            assert_eq!(
                inner,
                json!(width),
                "the {what} page is {width} CSS pixels wide"
            );
        }
        let results = self.axe().await?;
        let report = self
            .shots
            .join(format!("{}-{}-{what}.axe.json", self.name, self.n));
        std::fs::write(report, serde_json::to_vec_pretty(&results).unwrap()).unwrap();
        Some(results)
    }

    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks a control that leaves the page (a form's button, a link) and waits until the
    /// next page has replaced this one: a click returns before the answer arrives, and a look
    /// at the page right after it may still see the old one.
    pub async fn submit(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not leave the page");
    }

    /// Ticks the account `value` by clicking its label, as a person does.
    pub async fn choose(&self, value: &str) {
        let input = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!(
                "input[name=account][value='{value}']"
            )))
            .await
            .unwrap();
        let id = input.attr("id").await.unwrap().unwrap();
        self.click(&format!("label[for='{id}']")).await;
        assert!(
            input.is_selected().await.unwrap(),
            "account {value} is ticked"
        );
    }

    /// Waits until the URL starts with `prefix`; returns it.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        for _ in 0..100 {
            let url = self.client.current_url().await.unwrap().to_string();
            if url.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never reached {prefix}");
    }

    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

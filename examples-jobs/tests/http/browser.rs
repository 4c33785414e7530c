//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, which `.ci/run`
//! installs) loads the page from a running job service, the counts it shows are compared with
//! the queue's own, "Retry" is clicked on a dead job (a mouse press and release at the
//! button), the job runs again, and a screenshot is saved.
//!
//! The browser is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
//! commands on its fd 3, answers on its fd 4, each message ended by a NUL byte), so no driver
//! and no WebSocket client are needed. Without Chromium the test is skipped with a message,
//! except under `CI=true`, where it fails.

use std::future::IntoFuture as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actor_jobs::{EnqueueOptions, JobBackend, JobId, JobStatus};
use examples_jobs::service::{Document, Service};
use serde_json::{Value, json};

/// How long any one browser command may take.
const PATIENCE: Duration = Duration::from_secs(60);

fn chromium() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("CHROMIUM").map(PathBuf::from), Some("/usr/bin/chromium".into())];
    candidates.into_iter().flatten().find(|path| path.exists())
}

/// A browser driven over its DevTools pipe.
struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: actor_test_support::TempDir,
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = actor_test_support::TempDir::new("chromium-profile");
        // The shell gives the browser our pipes as its fds 3 (commands) and 4 (answers).
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-pipe",
                "--window-size=1280,1100",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let commands = child.stdin.take().expect("a pipe to the browser");
        let output = child.stdout.take().expect("a pipe from the browser");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop_if(|b| *b == 0);
                if let Ok(value) = serde_json::from_slice::<Value>(&message)
                    && tx.send(value).is_err()
                {
                    return;
                }
                message.clear();
            }
        });
        Browser { child, commands, answers, next_id: 1, session: None, _profile: profile }
    }

    /// Sends a command (to the attached page, once there is one) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&command).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        self.commands.flush().unwrap();
        loop {
            let answer = self
                .answers
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("the browser did not answer {method}"));
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page and attaches to it.
    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        self.session = attached["sessionId"].as_str().map(str::to_owned);
        self.call("Page.enable", json!({}));
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// Evaluates `expression` in the page (awaiting it if it is a promise); answers its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// Waits until the page has rendered an overview newer than `after` (ms); answers its time.
    fn rendered_after(&mut self, after: u64) -> u64 {
        let expression = format!(
            "new Promise((resolve) => {{ const look = () => {{ const at = Number(document.body && document.body.getAttribute('data-loaded')); if (at > {after}) resolve(at); else setTimeout(look, 50); }}; look(); }})"
        );
        self.eval(&expression).as_u64().expect("a render time")
    }

    /// Clicks the centre of the element `selector` with the mouse.
    fn click(&mut self, selector: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector('{selector}'); e.scrollIntoView(); const r = e.getBoundingClientRect(); return {{ x: r.x + r.width / 2, y: r.y + r.height / 2 }}; }})()"
        ));
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": rect["x"], "y": rect["y"], "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// A PNG of the page.
    fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        decode_base64(shot["data"].as_str().expect("screenshot data"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for sextet in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[test]
fn the_dashboard_shows_the_queue_and_retries_a_dead_job_in_a_real_browser() {
    let Some(binary) = chromium() else {
        assert!(
            !std::env::var("CI").is_ok_and(|ci| ci == "true"),
            "CI=true but there is no Chromium: .ci/run must install it"
        );
        println!("SKIPPED: the browser test needs Chromium (apt-get install chromium)");
        return;
    };
    let dir = actor_test_support::TempDir::new("dashboard");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (service, addr, dead) = runtime.block_on(async {
        // No schedule: the test compares exact counts.
        let service = Service::open_with(dir.path(), 2, Vec::new()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(axum::serve(listener, service.router()).into_future());
        let queue = service.queue();
        for n in 0..12 {
            let doc = Document { text: format!("document {n} with some words"), work_ms: 5 };
            queue.enqueue(doc, EnqueueOptions::new()).await.unwrap();
        }
        let doomed = Document { text: "a doomed document".into(), work_ms: 5 };
        let dead = queue.enqueue(doomed, EnqueueOptions::new().max_attempts(1)).await.unwrap();
        queue.wait_for(dead).await.unwrap();
        queue.wait_idle().await.unwrap();
        (service, addr, dead)
    });
    let mut browser = Browser::launch(&binary);
    // With the trailing slash: the service redirects it to the page.
    browser.open(&format!("http://{addr}/dashboard/"));
    let first = browser.rendered_after(0);

    // The counts on the page are the queue's.
    let shown = browser.eval(
        "Object.fromEntries([...document.querySelectorAll('td[data-count]')].map((td) => [td.dataset.count, Number(td.textContent)]))",
    );
    let stats = runtime.block_on(service.queue().stats()).unwrap();
    for status in JobStatus::ALL {
        assert_eq!(shown[status.as_str()], json!(stats.count(status)), "{status}: {shown}");
    }
    assert_eq!(stats.dead, 1);
    assert_eq!(stats.succeeded, 12);

    // Retry the dead job from its row: it runs again.
    let before = runtime.block_on(service.queue().status(dead)).unwrap().unwrap();
    let selector = format!("button[data-retry=\"{}\"]", dead.0);
    browser.click(&selector);
    let ran = runtime.block_on(async {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let record = service.queue().status(JobId(dead.0)).await.unwrap().unwrap();
                if record.started_at > before.started_at && record.status().is_finished() {
                    return record;
                }
                service.queue().wait_for(dead).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the retried job never ran")
    });
    assert_eq!(ran.status(), JobStatus::Dead, "a doomed document fails again");
    browser.rendered_after(first);

    if std::env::var_os("ACTOR_UPDATE_SCREENSHOT").is_some() {
        // For the README: a few seconds of traffic, so that the charts have something to show.
        runtime.block_on(async {
            for round in 0..16u64 {
                for n in 0..(10 + round % 5 * 6) {
                    let work_ms = 5 + (n * 7 + round * 13) % 60;
                    let doc = Document { text: format!("round {round} job {n}"), work_ms };
                    service.queue().enqueue(doc, EnqueueOptions::new()).await.unwrap();
                }
                if round % 5 == 2 {
                    let doc = Document { text: "a flaky document".into(), work_ms: 5 };
                    service.queue().enqueue(doc, EnqueueOptions::new()).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let now = runtime.block_on(async { service.queue().now() });
        browser.rendered_after(now);
    }
    browser.eval("window.scrollTo(0, 0)");
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&target, &png).unwrap();
    if std::env::var_os("ACTOR_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard.png");
        std::fs::write(docs, &png).unwrap();
    }
    println!("screenshot: {}", target.display());
    drop(browser);
    runtime.block_on(service.shutdown()).unwrap();
}

//! A small WebDriver client (W3C WebDriver over HTTP+JSON) for driving headless Chromium through
//! Debian's `chromedriver`: start the driver, open sessions, navigate, find elements, type, click,
//! read text and values, run a script, read cookies and take screenshots. Only what the console
//! test needs; blocking, one request per connection.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Where Debian's packages put the browser and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key of an element reference in WebDriver replies.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Why the browser cannot be driven here, if it cannot: the browser or the driver is missing.
pub fn missing() -> Option<String> {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        if !Path::new(path).exists() {
            return Some(format!("{path} is not installed (Debian package {package})"));
        }
    }
    None
}

/// An HTTP reply: status, headers (names in lower case) and body.
pub type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP request to `127.0.0.1:port`.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> anyhow::Result<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connect 127.0.0.1:{port}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    // Read the head, then the body by its length (or to its last chunk, or to the end): a
    // server may keep the connection open whatever the request said.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("the connection closed before the reply's headers ended");
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    loop {
        let done = match (length, chunked) {
            (Some(n), _) => rest.len() >= n,
            (None, true) => rest.ends_with(b"0\r\n\r\n"),
            (None, false) => false,
        };
        if done || method == "HEAD" || status == 204 || status == 304 {
            break;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&buf[..n]);
    }
    if chunked {
        rest = dechunk(&rest);
    }
    if let Some(n) = length {
        rest.truncate(n);
    }
    Ok((status, headers, rest))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// A running chromedriver; dropping it stops it.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Start chromedriver on a free loopback port and wait until it is ready.
    pub fn start(log: &Path) -> anyhow::Result<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {CHROMEDRIVER}"))?;
        let d = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _, body)) = http(port, "GET", "/status", &[], b"")
                && serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["value"]["ready"].as_bool()) == Some(true)
            {
                return Ok(d);
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready within 30 s (log: {})", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers = [("Content-Type", "application/json")];
        let (status, _, reply) = http(self.port, method, path, &headers, &bytes)?;
        let v: Value = serde_json::from_slice(&reply)
            .with_context(|| format!("chromedriver {method} {path}: not JSON: {}", String::from_utf8_lossy(&reply)))?;
        if status != 200 {
            bail!(
                "chromedriver {method} {path}: HTTP {status}: {} {}",
                v["value"]["error"].as_str().unwrap_or(""),
                v["value"]["message"].as_str().unwrap_or("")
            );
        }
        Ok(v["value"].clone())
    }

    /// A new headless Chromium session with its own profile (cookies are not shared between
    /// sessions).
    pub fn session(&self, profile: &Path) -> anyhow::Result<Browser<'_>> {
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1280,1000", "--no-first-run", "--no-default-browser-check",
                        format!("--user-data-dir={}", profile.display()),
                    ]
                }
            }}
        });
        let v = self.call("POST", "/session", Some(caps))?;
        let id = v["sessionId"].as_str().context("no sessionId")?.to_string();
        Ok(Browser { driver: self, id })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session; dropping it closes the browser.
pub struct Browser<'d> {
    driver: &'d Driver,
    id: String,
}

/// An element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.driver.call(method, &format!("/session/{}{path}", self.id), body)
    }

    pub fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(json!({ "url": url }))).map(|_| ())
    }

    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self.call("GET", "/url", None)?.as_str().unwrap_or_default().to_string())
    }

    pub fn title(&self) -> anyhow::Result<String> {
        Ok(self.call("GET", "/title", None)?.as_str().unwrap_or_default().to_string())
    }

    pub fn source(&self) -> anyhow::Result<String> {
        Ok(self.call("GET", "/source", None)?.as_str().unwrap_or_default().to_string())
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> anyhow::Result<Element> {
        let v = self
            .call("POST", "/element", Some(json!({ "using": "css selector", "value": css })))
            .with_context(|| format!("finding {css:?}"))?;
        Ok(Element(v[ELEMENT_KEY].as_str().context("no element reference")?.to_string()))
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let v = self.call("POST", "/elements", Some(json!({ "using": "css selector", "value": css })))?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_string()))).collect())
            .unwrap_or_default())
    }

    /// Type into an element (after clearing it).
    pub fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.find(css)?;
        self.call("POST", &format!("/element/{}/clear", e.0), Some(json!({})))?;
        self.call("POST", &format!("/element/{}/value", e.0), Some(json!({ "text": text }))).map(|_| ())
    }

    /// Choose a file for an `<input type=file>`.
    pub fn choose_file(&self, css: &str, path: &Path) -> anyhow::Result<()> {
        let e = self.find(css)?;
        let text = path.display().to_string();
        self.call("POST", &format!("/element/{}/value", e.0), Some(json!({ "text": text }))).map(|_| ())
    }

    pub fn click(&self, css: &str) -> anyhow::Result<()> {
        let e = self.find(css)?;
        self.call("POST", &format!("/element/{}/click", e.0), Some(json!({}))).map(|_| ())
    }

    /// The rendered text of an element.
    pub fn text(&self, css: &str) -> anyhow::Result<String> {
        let e = self.find(css)?;
        self.element_text(&e)
    }

    pub fn element_text(&self, e: &Element) -> anyhow::Result<String> {
        Ok(self.call("GET", &format!("/element/{}/text", e.0), None)?.as_str().unwrap_or_default().to_string())
    }

    /// The `value` property of a form control.
    pub fn value(&self, css: &str) -> anyhow::Result<String> {
        let e = self.find(css)?;
        Ok(self
            .call("GET", &format!("/element/{}/property/value", e.0), None)?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub fn attribute(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        let e = self.find(css)?;
        Ok(self.call("GET", &format!("/element/{}/attribute/{name}", e.0), None)?.as_str().map(String::from))
    }

    /// Run a script in the page and return its result.
    pub fn script(&self, script: &str) -> anyhow::Result<Value> {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// The cookies of the current page, HttpOnly ones included, as (name, value).
    pub fn cookies(&self) -> anyhow::Result<Vec<(String, String)>> {
        let v = self.call("GET", "/cookie", None)?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (c["name"].as_str().unwrap_or("").to_string(), c["value"].as_str().unwrap_or("").to_string())
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Save a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<PathBuf> {
        let v = self.call("GET", "/screenshot", None)?;
        let png = data_encoding::BASE64
            .decode(v.as_str().context("no screenshot data")?.as_bytes())
            .context("the screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path.to_path_buf())
    }

    /// Wait until `css` matches an element whose text contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            for e in self.find_all(css).unwrap_or_default() {
                if let Ok(t) = self.element_text(&e)
                    && t.contains(needle)
                {
                    return Ok(t);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {needle:?} in {css:?} at {}",
                    self.url().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self.driver.call("DELETE", &format!("/session/{}", self.id), None);
    }
}

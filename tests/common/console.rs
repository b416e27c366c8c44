//! A person at the console, as curl sees it: a cookie jar, the CSRF token of the last
//! page, form posts and file uploads, every answer with its status and headers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use super::{Env, Server, curl};

/// One browser-like session of curl against the console.
pub struct Browser<'s> {
    server: &'s Server,
    jar: PathBuf,
    /// The CSRF token of the last page that carried one.
    pub csrf: Option<String>,
    /// Extra curl arguments for every request (`--cacert FILE` over TLS).
    pub curl_args: Vec<String>,
    /// The network namespace the server listens in, when not the test's own.
    pub netns: Option<String>,
}

/// A console answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// The value of `name="csrf" value="..."` in a page.
pub fn csrf_of(body: &str) -> Option<String> {
    let at = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(body[at..].split('"').next()?.to_string())
}

impl<'s> Browser<'s> {
    pub fn new(env: &Env, server: &'s Server, name: &str) -> Browser<'s> {
        let jar = env.path(&format!("{name}.cookies"));
        Browser { server, jar, csrf: None, curl_args: Vec::new(), netns: None }
    }

    fn run(&mut self, extra: &[String], path: &str) -> Answer {
        let headers = self.jar.with_extension("headers");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(curl());
                cmd
            }
            None => Command::new(curl()),
        };
        cmd.args(["-sS", "-o", "-", "-D"])
            .arg(&headers)
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar)
            .args(["-w", "\n%{http_code}"])
            .args(&self.curl_args)
            .args(extra)
            .arg(format!("{}{path}", self.server.base));
        let out = cmd.output().expect("curl runs");
        assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').expect("status line");
        let answer = Answer {
            status: status.trim().parse().expect("status code"),
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
            body: body.to_string(),
        };
        if let Some(token) = csrf_of(&answer.body) {
            self.csrf = Some(token);
        }
        answer
    }

    pub fn get(&mut self, path: &str) -> Answer {
        self.run(&[], path)
    }

    /// Posts a form as it is (no token added).
    pub fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut extra = Vec::new();
        for (k, v) in fields {
            extra.push("--data-urlencode".to_string());
            extra.push(format!("{k}={v}"));
        }
        self.run(&extra, path)
    }

    /// Posts a form with the CSRF token of the last page.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let token = self.csrf.clone().expect("a page with a CSRF token was loaded first");
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    /// Uploads a file as the portal's upload form does (multipart, with the token).
    pub fn upload(&mut self, path: &str, file: &std::path::Path) -> Answer {
        self.upload_as(path, "list", file)
    }

    /// Uploads a file as the form field `field` (multipart, with the token).
    pub fn upload_as(&mut self, path: &str, field: &str, file: &std::path::Path) -> Answer {
        let token = self.csrf.clone().expect("a page with a CSRF token was loaded first");
        let extra =
            vec!["-F".to_string(), format!("csrf={token}"), "-F".to_string(), format!("{field}=@{}", file.display())];
        self.run(&extra, path)
    }

    /// Posts a multipart form of these `-F` parts, in this order, as they are.
    pub fn multipart(&mut self, path: &str, parts: &[String]) -> Answer {
        let extra: Vec<String> = parts.iter().flat_map(|p| ["-F".to_string(), p.clone()]).collect();
        self.run(&extra, path)
    }

    /// Loads the login page and logs in; returns the answer to the login post.
    pub fn login(&mut self, name: &str, password: &str) -> Answer {
        let page = self.get("/login");
        assert_eq!(page.status, 200, "{}", page.body);
        self.post("/login", &[("name", name), ("password", password)])
    }
}

impl Env {
    /// Creates a console user; `role` as `user add` takes it (`--duty`, `--operator X`, `--auditor`).
    pub fn user(&self, name: &str, password: &str, role: &[&str]) {
        let mut args = vec!["user", "add", name];
        args.extend_from_slice(role);
        args.extend_from_slice(&["--lang", "en"]);
        self.with_stdin(&args, &format!("{password}\n"));
    }

    /// Runs the binary with `input` on its standard input; asserts success, returns stdout.
    pub fn with_stdin(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("perimeter runs");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("input written");
        let out = child.wait_with_output().expect("perimeter ends");
        assert!(out.status.success(), "perimeter {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

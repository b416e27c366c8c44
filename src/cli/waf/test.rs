//! `perimeter waf test DOMAIN --method M --uri U [--header 'K: V']… [--data D] [--json]`:
//! one request through the site's rules, sent nowhere.

use std::process::ExitCode;

use clap::Args;
use http::{HeaderName, HeaderValue};
use waf::engine::{TestRequest, VerdictKind};

use crate::app::waf::Manager;
use crate::cli::json::JsonFlag;

#[derive(Args, Debug)]
pub struct TestArgs {
    pub domain: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    #[arg(long, default_value = "/")]
    pub uri: String,
    /// A request header (repeat).
    #[arg(long = "header", value_name = "K: V")]
    pub headers: Vec<String>,
    /// The request body.
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(manager: &Manager<'_>, a: TestArgs) -> anyhow::Result<ExitCode> {
    let mut request = TestRequest::new(&a.method, &a.uri);
    for h in &a.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| anyhow::anyhow!("--header '{h}' is not 'Name: value'"))?;
        let name = HeaderName::try_from(name.trim()).map_err(|e| anyhow::anyhow!("--header '{h}': {e}"))?;
        let value = HeaderValue::try_from(value.trim()).map_err(|e| anyhow::anyhow!("--header '{h}': {e}"))?;
        request.headers.append(name, value);
    }
    if let Some(data) = a.data {
        if !request.headers.contains_key(http::header::CONTENT_TYPE) {
            let form = HeaderValue::from_static("application/x-www-form-urlencoded");
            request.headers.insert(http::header::CONTENT_TYPE, form);
        }
        request.body = data.into_bytes();
    }
    let verdict = manager.test(&a.domain, request).await?;
    if a.json.json {
        println!("{}", serde_json::to_string(&verdict)?);
    } else {
        let word = match verdict.verdict {
            VerdictKind::Block => "block: the request is refused",
            VerdictKind::Detect => "detect: it would be refused; the site only records",
            VerdictKind::Pass => "pass",
        };
        let rules: Vec<String> = verdict.rules.iter().map(ToString::to_string).collect();
        println!("verdict {word}\nscore   {}\nrules   {}", verdict.score, rules.join(" "));
        for m in &verdict.outcome.matches {
            println!("  {} {}", m.id, m.message);
        }
    }
    Ok(ExitCode::SUCCESS)
}

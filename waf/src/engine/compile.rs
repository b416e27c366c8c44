//! Turns a site's settings into one libmodsecurity rule set: the project's base
//! configuration, the site's engine settings and CRS variables, the project's rules
//! around the CRS, the CRS itself, the site's exclusions, then each virtual patch apart
//! (so a refusal names the patch and the engine's message refers to its own lines).
//!
//! Must not: accept a patch that changes engine settings or includes files (only rules);
//! write a value into the rule text that was not checked by `settings`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::settings::{Mode, OverLimit, RuleSettings};
use super::{Engine, EngineError, EnginePaths, RulesError, ffi};

/// The project's base configuration (engine settings, body processors).
pub const BASE: &str = include_str!("../../rules/base.conf");
/// The project's rules that run before the CRS (Russian and Kazakh text and 941310).
pub const BEFORE_CRS: &str = include_str!("../../rules/before-crs.conf");
/// The project's rules that run after the CRS (the scores read back).
pub const AFTER_CRS: &str = include_str!("../../rules/after-crs.conf");

/// The project's unicode map (Cyrillic letters stay letters for t:urlDecodeUni).
pub const UNICODE_MAP: &str = include_str!("../../rules/unicode.mapping");
/// The code page of `unicode.mapping`.
const CODE_PAGE: u32 = 20127;

/// The unicode map written to a private file for the engine's parser.
pub(crate) struct UnicodeMap {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl UnicodeMap {
    fn write() -> std::io::Result<UnicodeMap> {
        let dir = tempfile::Builder::new().prefix("perimeter-waf-").tempdir()?;
        let path = dir.path().join("unicode.mapping");
        std::fs::write(&path, UNICODE_MAP)?;
        Ok(UnicodeMap { _dir: dir, path })
    }
}

/// The id of the rule in `after-crs.conf` whose log line carries the anomaly scores.
pub const SCORE_RULE: u32 = 10099;

/// A site's compiled rules.
pub(crate) struct Compiled {
    pub(crate) set: Arc<ffi::RuleSet>,
    pub(crate) settings: RuleSettings,
    pub(crate) site: String,
}

const CONNECTOR: &str = concat!("perimeter-waf v", env!("CARGO_PKG_VERSION"));

pub(super) fn load_engine(paths: &EnginePaths) -> Result<Engine, EngineError> {
    for path in [&paths.crs_setup, &paths.crs_rules] {
        if !path.exists() {
            return Err(EngineError::Crs { path: path.display().to_string() });
        }
        let text = path.to_string_lossy();
        if text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            return Err(EngineError::Base(format!("{text}: a CRS path may not contain white space or quotes")));
        }
    }
    let lib = ffi::Library::open(&paths.library, CONNECTOR)
        .map_err(|reason| EngineError::Library { path: paths.library.display().to_string(), reason })?;
    let unicode_map = UnicodeMap::write().map_err(|e| EngineError::Base(format!("writing the unicode map: {e}")))?;
    if unicode_map.path.to_string_lossy().contains(char::is_whitespace) {
        return Err(EngineError::Base(format!(
            "{}: the temporary directory's path has white space",
            unicode_map.path.display()
        )));
    }
    let engine = Engine { lib, paths: paths.clone(), unicode_map: Arc::new(unicode_map) };
    compile(&engine, "(defaults)", &RuleSettings::default()).map_err(|e| EngineError::Base(e.to_string()))?;
    Ok(engine)
}

/// An `Include` line for `path` (the parser takes it unquoted: `load_engine` refuses
/// paths with white space or quotes).
fn include(out: &mut String, path: &Path) {
    let _ = writeln!(out, "Include {}", path.display());
}

/// The CRS load order of Debian's `owasp-crs.load`: the set-up, the local exclusions
/// before the CRS when present, the rules, the local exclusions after when present.
fn crs_includes(paths: &EnginePaths) -> (String, String) {
    let local = paths.crs_setup.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut before = String::new();
    include(&mut before, &paths.crs_setup);
    let before_local = local.join("REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf");
    if before_local.is_file() {
        include(&mut before, &before_local);
    }
    let mut rules = String::new();
    include(&mut rules, &paths.crs_rules.join("*.conf"));
    let after_local = local.join("RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf");
    if after_local.is_file() {
        include(&mut rules, &after_local);
    }
    (before, rules)
}

/// The engine directives and CRS variables of one site.
fn site_settings(settings: &RuleSettings) -> String {
    let engine = match settings.mode {
        Mode::Block => "On",
        Mode::Detect => "DetectionOnly",
    };
    let over = match settings.over_body_limit {
        OverLimit::Refuse => "Reject",
        OverLimit::InspectPart => "ProcessPartial",
    };
    let response = if settings.inspect_responses { "On" } else { "Off" };
    let types: Vec<String> = settings.allowed_content_types.iter().map(|t| format!("|{t}|")).collect();
    format!(
        "SecRuleEngine {engine}\n\
         SecRequestBodyLimit {limit}\n\
         SecRequestBodyNoFilesLimit {limit}\n\
         SecRequestBodyLimitAction {over}\n\
         SecResponseBodyAccess {response}\n\
         SecAction \"id:10020,phase:1,pass,nolog,t:none,\
         setvar:tx.paranoia_level={paranoia},\
         setvar:tx.inbound_anomaly_score_threshold={inbound},\
         setvar:tx.outbound_anomaly_score_threshold={outbound},\
         setvar:'tx.allowed_methods={methods}',\
         setvar:'tx.allowed_request_content_type={types}'\"\n",
        limit = settings.body_limit,
        paranoia = settings.paranoia,
        inbound = settings.inbound_threshold,
        outbound = settings.outbound_threshold,
        methods = settings.allowed_methods.join(" "),
        types = types.join(" "),
    )
}

/// `SecRuleRemoveById` and `SecRuleUpdateTargetById` lines for the site's exclusions.
fn exclusions(settings: &RuleSettings) -> String {
    let mut out = String::new();
    for exclusion in &settings.exclusions {
        let _ = match &exclusion.target {
            None => writeln!(out, "SecRuleRemoveById {}", exclusion.rule),
            Some(target) => writeln!(out, "SecRuleUpdateTargetById {} \"!{target}\"", exclusion.rule),
        };
    }
    out
}

/// The whole text of a site's rules but its patches, as the engine loads it (and as
/// the nginx peer of the benchmark and the CRS suite loads it).
/// `unicode_map` is a file with the text of [`UNICODE_MAP`].
pub fn site_text(paths: &EnginePaths, unicode_map: &Path, settings: &RuleSettings) -> String {
    let (crs_setup, crs_rules) = crs_includes(paths);
    let mut text = String::new();
    let map = format!("SecUnicodeMapFile {} {CODE_PAGE}\n", unicode_map.display());
    for part in
        [BASE, &map, &site_settings(settings), BEFORE_CRS, &crs_setup, &crs_rules, AFTER_CRS, &exclusions(settings)]
    {
        text.push_str(part);
        text.push('\n');
    }
    text
}

/// A patch may hold rules and markers only: `SecRule`, `SecAction`, `SecMarker`.
fn check_patch(patch: &str) -> Result<(), String> {
    let mut continued = false;
    for (number, line) in patch.lines().enumerate() {
        let trimmed = line.trim();
        let starts_directive = !continued && !trimmed.is_empty() && !trimmed.starts_with('#');
        continued = trimmed.ends_with('\\');
        if !starts_directive {
            continue;
        }
        let directive = trimmed.split_whitespace().next().unwrap_or_default();
        if !["SecRule", "SecAction", "SecMarker"].iter().any(|d| d.eq_ignore_ascii_case(directive)) {
            return Err(format!(
                "line {}: {directive} is not allowed in a virtual patch (only SecRule, SecAction, SecMarker)",
                number + 1
            ));
        }
    }
    Ok(())
}

pub(super) fn compile(engine: &Engine, site: &str, settings: &RuleSettings) -> Result<Compiled, RulesError> {
    if let Some(problem) = settings.check().into_iter().next() {
        return Err(RulesError::Settings { site: site.into(), field: problem.field, problem: problem.problem });
    }
    for (index, patch) in settings.patches.iter().enumerate() {
        check_patch(patch).map_err(|message| RulesError::Patch { site: site.into(), index, message })?;
    }
    let main = site_text(&engine.paths, &engine.unicode_map.path, settings);
    let mut parts: Vec<&str> = vec![&main];
    parts.extend(settings.patches.iter().map(String::as_str));
    let set = ffi::RuleSet::load(&engine.lib, &parts).map_err(|(index, message)| match index {
        0 => RulesError::Engine { site: site.into(), message },
        n => RulesError::Patch { site: site.into(), index: n - 1, message },
    })?;
    Ok(Compiled { set, settings: settings.clone(), site: site.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Exclusion;

    #[test]
    fn settings_and_exclusions_are_written_as_directives() {
        let settings = RuleSettings {
            mode: Mode::Detect,
            paranoia: 2,
            exclusions: vec![
                Exclusion { rule: 942100, target: None },
                Exclusion { rule: 941100, target: Some("ARGS:comment".into()) },
            ],
            ..RuleSettings::default()
        };
        let text = site_text(&EnginePaths::default(), Path::new("/tmp/u.mapping"), &settings);
        assert!(text.contains("SecRuleEngine DetectionOnly\n"));
        assert!(text.contains("setvar:tx.paranoia_level=2,"));
        assert!(text.contains("setvar:'tx.allowed_methods=GET HEAD POST OPTIONS'"));
        assert!(text.contains("SecRuleRemoveById 942100\n"));
        assert!(text.contains("SecRuleUpdateTargetById 941100 \"!ARGS:comment\"\n"));
        let crs = text.find("Include /usr/share/modsecurity-crs/rules/*.conf").unwrap();
        assert!(text.find("id:10010").unwrap() < crs && crs < text.find("id:10099").unwrap());
    }

    #[test]
    fn patches_hold_rules_only() {
        assert!(check_patch("# note\nSecRule ARGS \"@rx x\" \\\n  \"id:20001,deny\"\nSecMarker END").is_ok());
        let err = check_patch("SecRule ARGS \"@rx x\" \"id:1,deny\"\nSecRuleEngine Off").unwrap_err();
        assert!(err.starts_with("line 2: SecRuleEngine"), "{err}");
        assert!(check_patch("Include /etc/passwd").is_err());
    }
}

//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers' annotations
//! and served at `/api/v1/openapi.json` (without a token: it describes, it holds no
//! data). A test reads the router's routes and fails when one is missing here.
//!
//! Must not: describe a route the router does not serve.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{gate, mail, requests, routes, rules};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "perimeter control-plane API",
        version = "1",
        description = "JSON over HTTP, a bearer token on every request (`perimeter token create`). \
            Operator tokens see and change only their operator's data; duty-team tokens see everything."
    ),
    paths(
        routes::whoami, routes::operators, routes::add_operator, routes::operator, routes::import, routes::export,
        routes::organisations, routes::add_organisation, routes::lookup, routes::history, routes::audit,
        routes::metrics, rules::observe, rules::unknown, rules::notices, rules::blocks, rules::add_block,
        rules::lift_block, mail::systems, mail::connect, mail::system, mail::set_status, mail::queue, mail::held,
        requests::list, requests::file, requests::show, requests::act, requests::attach, requests::attachment,
        gate::grants, gate::add_grant, gate::revoke_grant,
    ),
    modifiers(&Bearer),
    tags(
        (name = "tokens", description = "who is calling"),
        (name = "catalog", description = "operators, organisations, their prefix lists, lookups"),
        (name = "rules", description = "unknown addresses, notices, blocks (rule 1)"),
        (name = "mail", description = "the mail gateway's connected systems (rule 5)"),
        (name = "requests", description = "the request desk: applications, their holder and due day"),
        (name = "audit", description = "who changed what"),
        (name = "gateways", description = "metrics; the packet gate's grants of services besides the web proxy"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let scheme =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("pmt_…").build());
        api.components.get_or_insert_with(Default::default).add_security_scheme("bearer", scheme);
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi;

    /// Every (method, path) the `/api/v1` router serves, read from its source.
    fn served() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let v1 = source.split("let v1 = Router::new()").nth(1).expect("the /api/v1 router");
        let v1 = v1.split(".fallback(").next().expect("its fallback");
        let mut routes = BTreeSet::new();
        for piece in v1.split(".route(\"").skip(1) {
            let (path, rest) = piece.split_once('"').expect("a quoted path");
            let call = rest.split(")\n").next().unwrap_or_default();
            for method in ["get", "post", "put", "delete", "patch"] {
                let bare = format!("{method}(");
                let chained = format!(".{method}(");
                if call.contains(&format!(" {bare}")) || call.contains(&format!("::{bare}")) || call.contains(&chained)
                {
                    routes.insert((method.to_string(), path.to_string()));
                }
            }
        }
        routes
    }

    #[test]
    fn every_route_of_the_router_is_described_and_nothing_else() {
        let doc = super::ApiDoc::openapi();
        let mut described = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let path = path.strip_prefix("/api/v1").expect("every path is under /api/v1").to_string();
            let methods = [
                ("get", item.get.is_some()),
                ("post", item.post.is_some()),
                ("put", item.put.is_some()),
                ("delete", item.delete.is_some()),
                ("patch", item.patch.is_some()),
            ];
            for (m, present) in methods {
                if present {
                    described.insert((m.to_string(), path.clone()));
                }
            }
        }
        let mut served = served();
        // The description itself is not part of the described API.
        served.remove(&("get".to_string(), "/openapi.json".to_string()));
        assert!(served.len() >= 20, "the router's routes were not read: {served:?}");
        let missing: Vec<_> = served.difference(&described).collect();
        let extra: Vec<_> = described.difference(&served).collect();
        assert!(missing.is_empty(), "routes missing from the OpenAPI description: {missing:?}");
        assert!(extra.is_empty(), "described routes the router does not serve: {extra:?}");
    }

    #[test]
    fn it_is_openapi_3_1_with_the_bearer_scheme() {
        let json = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"), "{}", json["openapi"]);
        assert_eq!(json["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert!(json["paths"]["/api/v1/operators/{operator}/prefixes"]["put"]["parameters"].is_array());
    }
}

//! The OpenAPI 3 document of `/api/v1`, generated from the handlers' `#[utoipa::path]`
//! attributes and their request and query types, served at `/api/v1/openapi.json`.

use super::{auth, delivery, forms, lists, microdata, places, report, report_docx, responses, sampling, users, waves};
use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "phieu API",
        description = "SIPAS and PAR INDEX survey collection. Officials send `Authorization: Bearer <token>` \
                       from `POST /auth/token`; errors are `{error, message}` and, for invalid input, \
                       `errors` by field with messages in Vietnamese."
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerToken),
    paths(
        document,
        auth::issue_token,
        delivery::send,
        delivery::letters,
        delivery::letters_csv,
        delivery::sms_csv,
        delivery::progress,
        delivery::replace,
        delivery::remind,
        delivery::set_mail_template,
        delivery::purge,
        delivery::assignments,
        forms::list,
        forms::show,
        lists::upload,
        lists::show,
        lists::remap,
        lists::confirm,
        lists::report_csv_route,
        lists::report_xlsx_route,
        places::create_locality,
        places::list_localities,
        places::import_localities,
        places::import_crosswalk,
        places::create_agency,
        places::list_agencies,
        responses::submit,
        sampling::draw,
        sampling::history,
        users::create,
        users::list,
        users::disable,
        users::enable,
        users::reset_password,
        users::clear_failures,
        users::change_own_password,
        users::audit_log,
        report::report_json,
        report::report_csv,
        report::report_xlsx,
        report_docx::report_docx,
        microdata::answers_csv,
        microdata::answers_xlsx,
        microdata::codebook_csv,
        waves::create,
        waves::list,
        waves::show,
        waves::open,
        waves::close,
        waves::invite,
        waves::results,
        waves::verify,
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built once.
static DOCUMENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serialises"));

#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// (METHOD, path below /api/v1) of every documented operation.
    fn documented() -> BTreeSet<(String, String)> {
        let doc: Value = serde_json::from_str(&DOCUMENT).unwrap();
        let mut operations = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    operations.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        operations
    }

    /// (METHOD, path) of every route the files of `src/web/api` (but this one) register.
    /// Every `.route(` must read `.route("/path", web::method()…`, and nothing else may
    /// register a service, so a route added in any form is either read here or fails this
    /// test. (That each documented operation reaches its own route on the running server is
    /// tested in tests/api/operator.rs.)
    fn registered() -> BTreeSet<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api");
        let mut routes = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().path();
            let source = std::fs::read_to_string(&file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if name == "openapi.rs" {
                continue;
            }
            let services = source.matches(".service(").count() + source.matches("web::resource(").count();
            assert_eq!(
                services,
                usize::from(name == "mod.rs"),
                "{name}: register API routes with .route(\"/path\", web::method())"
            );
            for (at, _) in source.match_indices(".route(") {
                let rest = source[at + ".route(".len()..].trim_start();
                let parsed = rest.strip_prefix('"').and_then(|r| r.split_once('"')).and_then(|(path, r)| {
                    let method =
                        r.trim_start().strip_prefix(',')?.trim_start().strip_prefix("web::")?.split_once("()")?.0;
                    Some((method.to_uppercase(), path.to_string()))
                });
                routes.insert(parsed.unwrap_or_else(|| {
                    panic!("{name}: a route this test cannot read: {}", &rest[..rest.len().min(80)])
                }));
            }
        }
        routes
    }

    #[test]
    fn every_registered_api_route_is_documented_and_every_documented_one_registered() {
        let (documented, registered) = (documented(), registered());
        assert!(registered.len() > 40, "the registrations were read: {registered:?}");
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
        let unregistered: Vec<_> = documented.difference(&registered).collect();
        assert!(unregistered.is_empty(), "documented operations no route serves: {unregistered:?}");
    }

    #[test]
    fn the_document_is_openapi_3_with_bodies_from_the_handlers_types() {
        let doc: Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let create_wave = &doc["paths"]["/waves"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        let name = create_wave["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let schema = &doc["components"]["schemas"][name];
        assert!(schema["required"].as_array().unwrap().contains(&Value::from("form_id")), "{schema}");
        assert!(schema["properties"]["desk_codes"].is_object());
        let results = doc["paths"]["/waves/{id}/results"]["get"]["parameters"].as_array().unwrap();
        let names: Vec<&str> = results.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["id", "level", "by", "desk", "compare", "weighting"]);
        assert_eq!(doc["paths"]["/waves"]["post"]["security"][0]["bearer"], Value::Array(vec![]));
    }
}

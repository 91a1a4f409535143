//! HTML templates, compiled into the binary so `phieu` runs from any directory.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use minijinja::Environment;
use serde::Serialize;

pub struct Templates(Environment<'static>);

impl Templates {
    pub fn load() -> Self {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("message.html", include_str!("templates/message.html")),
            ("code_entry.html", include_str!("templates/code_entry.html")),
            ("questionnaire.html", include_str!("templates/questionnaire.html")),
            ("login.html", include_str!("templates/login.html")),
            ("dashboard.html", include_str!("templates/dashboard.html")),
            ("results.html", include_str!("templates/results.html")),
            ("report.html", include_str!("templates/report.html")),
            ("letters.html", include_str!("templates/letters.html")),
            ("opt_out.html", include_str!("templates/opt_out.html")),
            ("sampling.html", include_str!("templates/sampling.html")),
            ("progress.html", include_str!("templates/progress.html")),
            ("assignments.html", include_str!("templates/assignments.html")),
            ("lists.html", include_str!("templates/lists.html")),
            ("upload.html", include_str!("templates/upload.html")),
            ("password.html", include_str!("templates/password.html")),
        ] {
            env.add_template(name, source).expect("template parses");
        }
        Self(env)
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> String {
        self.0
            .get_template(name)
            .and_then(|t| t.render(context))
            .unwrap_or_else(|e| panic!("template {name} failed: {e:#}"))
    }

    pub fn page(&self, status: StatusCode, name: &str, context: impl Serialize) -> HttpResponse {
        // Pages carry answers or officials' data: never kept by shared or browser caches.
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(self.render(name, context))
    }
}

pub const SITE_CSS: &str = include_str!("static/site.css");
pub const FORM_JS: &str = include_str!("static/form.js");
pub const LETTERS_CSS: &str = include_str!("static/letters.css");

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_renders_and_escapes_html() {
        let templates = Templates::load();
        let html = templates
            .render("message.html", context! { title => "<b>Tiêu đề</b>", paragraphs => vec!["Đoạn"], csrf => "x" });
        assert!(html.contains("&lt;b&gt;Tiêu đề&lt;") && !html.contains("<b>"), "{html}");
        assert!(html.contains("lang=\"vi\""));
    }
}

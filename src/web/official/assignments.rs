//! An enumerator's page: the people assigned to them, with the code to type their paper
//! form in under — the visits of `GET /assignments`.

use super::{redirect, refused};
use crate::domain::account::Role;
use crate::web::AppState;
use crate::web::auth::{PageUser, require};
use crate::web::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use std::collections::HashMap;

pub const PATH: &str = "/dieu-tra-vien";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(page));
}

async fn page(state: web::Data<AppState>, req: HttpRequest, user: Option<PageUser>) -> HttpResponse {
    let Some(PageUser(user)) = user else {
        return redirect("/dang-nhap");
    };
    if let Err(e) = require(&user, &[Role::Enumerator]) {
        return refused(&state, &req, &e);
    }
    let loaded = async {
        let visits = state.survey.assignments(&user.id).await?;
        let (waves, localities) = state.survey.db.run(|db| Ok((db.waves()?, db.all_localities()?))).await?;
        Ok::<_, ApiError>((visits, waves, localities))
    };
    let (visits, waves, localities) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return refused(&state, &req, &e),
    };
    let locality_names: HashMap<String, String> = localities.into_iter().map(|l| (l.code, l.name)).collect();
    let lists: Vec<_> = waves
        .iter()
        .filter_map(|wave| {
            let people: Vec<_> = visits
                .iter()
                .filter(|v| v.wave_id == wave.id)
                .map(|v| {
                    let locality = locality_names.get(&v.locality_code).cloned().unwrap_or_else(|| v.locality_code.clone());
                    context! { name => v.name, address => v.address, phone => v.phone, locality, code => v.code, plain_code => v.plain_code, answered => v.answered }
                })
                .collect();
            let left = visits.iter().filter(|v| v.wave_id == wave.id && !v.answered).count();
            (!people.is_empty()).then(|| context! { name => wave.name, status_label => wave.status.label(), people, left })
        })
        .collect();
    state.page(&req, StatusCode::OK, "assignments.html", context! { title => "Người được giao cho tôi", lists })
}

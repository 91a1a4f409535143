//! The progress page of a wave: every locality at every level with sampled people beneath
//! it, each stratum, and the emails by status — the figures of `GET /progress`.

use super::{level_label, one_decimal, redirect, refused, thousands};
use crate::domain::account::Role;
use crate::domain::progress::Tally;
use crate::web::AppState;
use crate::web::api::delivery::{PROGRESS_ROLES, wave_progress};
use crate::web::auth::PageUser;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/quan-ly/dot/{id}/tien-do", web::get().to(page));
}

pub fn may_view(role: Role) -> bool {
    PROGRESS_ROLES.contains(&role)
}

/// A response rate as Vietnamese write it ("50,0%"), or a dash before anyone is invited.
fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_string(), |r| format!("{}%", one_decimal(r)))
}

fn figures(tally: &Tally, rate: Option<f64>) -> minijinja::Value {
    context! {
        sampled => thousands(tally.sampled), invited => thousands(tally.invited),
        delivered => thousands(tally.delivered), answered => thousands(tally.answered),
        rate => percent(rate),
    }
}

fn mail_status_label(status: &str) -> &str {
    match status {
        "pending" => "Đang chờ gửi",
        "sending" => "Đang gửi",
        "sent" => "Đã gửi",
        "failed" => "Gửi không thành công",
        "cancelled" => "Đã hủy (người nhận từ chối, thông tin liên hệ đã xóa)",
        "uncertain" => "Chưa rõ đã gửi hay chưa (máy chủ dừng giữa chừng)",
        other => other,
    }
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else {
        return redirect("/dang-nhap");
    };
    let (wave, progress) = match wave_progress(&state, &user, &path).await {
        Ok(found) => found,
        Err(e) => return refused(&state, &req, &e),
    };
    let names = match state.survey.db.run(|db| Ok((db.all_localities()?, db.all_agencies()?))).await {
        Ok((localities, agencies)) => {
            let mut names: HashMap<String, String> = localities.into_iter().map(|l| (l.code, l.name)).collect();
            let agencies: HashMap<String, String> = agencies.into_iter().map(|a| (a.code, a.name)).collect();
            names.extend(agencies.into_iter().map(|(code, name)| (format!("agency:{code}"), name)));
            names
        }
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    let localities: Vec<_> = progress
        .localities
        .iter()
        .map(|l| {
            context! {
                name => l.name, level => level_label(&l.level), depth => l.depth,
                indent => format!("{:.1}rem", 0.4 + 1.5 * l.depth as f64),
                figures => figures(&l.tally, l.rate),
            }
        })
        .collect();
    let strata: Vec<_> = progress
        .strata
        .iter()
        .map(|s| {
            let locality = names.get(&s.locality_code).cloned().unwrap_or_else(|| s.locality_code.clone());
            let agency =
                s.agency_code.as_ref().map(|a| names.get(&format!("agency:{a}")).cloned().unwrap_or_else(|| a.clone()));
            context! { locality, agency, figures => figures(&s.tally, s.rate) }
        })
        .collect();
    let mut total = Tally::default();
    progress.strata.iter().for_each(|s| total += s.tally);
    let email: Vec<_> = progress
        .email
        .iter()
        .map(|(status, n)| context! { label => mail_status_label(status), n => thousands(*n) })
        .collect();
    state.page(
        &req,
        StatusCode::OK,
        "progress.html",
        context! {
            title => format!("Tiến độ: {}", wave.name),
            wave => context! { id => wave.id, name => wave.name, status_label => wave.status.label() },
            localities, strata, email,
            total => figures(&total, total.rate()),
            by_agency => progress.strata.iter().any(|s| s.agency_code.is_some()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_shown_with_a_decimal_comma_or_a_dash() {
        assert_eq!(percent(Some(100.0 / 3.0)), "33,3%");
        assert_eq!(percent(None), "—");
    }
}

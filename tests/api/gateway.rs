//! A real HTTP SMS gateway on loopback that records every request it receives. It answers
//! 200 unless told otherwise for a number: statuses to give in turn (then 200), an answer
//! only after a delay, or no answer at all.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request, as the gateway read it.
#[derive(Debug, Clone)]
pub struct Sms {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    /// The parameters, from the query of a GET or the form body of a POST.
    pub params: HashMap<String, String>,
    /// What the gateway answered (0: nothing).
    pub status: u16,
}

impl Sms {
    pub fn phone(&self) -> &str {
        &self.params["to"]
    }

    pub fn text(&self) -> &str {
        &self.params["text"]
    }
}

#[derive(Clone)]
enum Script {
    Statuses(VecDeque<u16>),
    Late(Duration),
    Hang,
}

#[derive(Clone, Default)]
struct State {
    received: Arc<Mutex<Vec<Sms>>>,
    scripts: Arc<Mutex<HashMap<String, Script>>>,
}

#[derive(Clone)]
pub struct SmsGateway {
    pub port: u16,
    state: State,
}

impl SmsGateway {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = State::default();
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(shared.clone())).default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { port, state }
    }

    /// A `PHIEU_SMS_GATEWAY_URL` for this gateway, with a key as real ones have.
    pub fn url_template(&self) -> String {
        format!("http://127.0.0.1:{}/api/send?key=khoa-thu&to={{phone}}&text={{text}}", self.port)
    }

    /// Answers `statuses` in turn to the requests for `phone`, then 200.
    pub fn answer(&self, phone: &str, statuses: &[u16]) {
        self.state.scripts.lock().unwrap().insert(phone.into(), Script::Statuses(statuses.iter().copied().collect()));
    }

    /// Answers 200 to the requests for `phone`, but only after `delay`.
    pub fn answer_late(&self, phone: &str, delay: Duration) {
        self.state.scripts.lock().unwrap().insert(phone.into(), Script::Late(delay));
    }

    /// Never answers the requests for `phone`.
    pub fn hang(&self, phone: &str) {
        self.state.scripts.lock().unwrap().insert(phone.into(), Script::Hang);
    }

    pub fn received(&self) -> Vec<Sms> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn received_for(&self, phone: &str) -> Vec<Sms> {
        self.received().into_iter().filter(|s| s.phone() == phone).collect()
    }

    /// Waits until at least `count` requests arrived (up to 30 s).
    pub async fn wait_for(&self, count: usize) -> Vec<Sms> {
        self.wait_until(|received| received.len() >= count).await
    }

    /// Waits until what arrived satisfies `done` (up to 30 s).
    pub async fn wait_until(&self, done: impl Fn(&[Sms]) -> bool) -> Vec<Sms> {
        for _ in 0..300 {
            let received = self.received();
            if done(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway did not receive what was expected: {:?}", self.received());
    }
}

async fn receive(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).map(ToString::to_string);
    let encoded = if request.method() == "POST" { body.to_vec() } else { request.query_string().as_bytes().to_vec() };
    let params: HashMap<String, String> = form_urlencoded::parse(&encoded).into_owned().collect();
    let phone = params.get("to").cloned().unwrap_or_default();
    let (script, delay) = match state.scripts.lock().unwrap().get_mut(&phone) {
        Some(Script::Hang) => (None, Duration::ZERO),
        Some(Script::Late(delay)) => (Some(200), *delay),
        Some(Script::Statuses(statuses)) => (Some(statuses.pop_front().unwrap_or(200)), Duration::ZERO),
        None => (Some(200), Duration::ZERO),
    };
    state.received.lock().unwrap().push(Sms {
        method: request.method().to_string(),
        path: request.path().to_string(),
        query: request.query_string().to_string(),
        content_type,
        params,
        status: script.unwrap_or(0),
    });
    tokio::time::sleep(delay).await;
    match script {
        Some(status) => HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("{}"),
        None => std::future::pending().await,
    }
}

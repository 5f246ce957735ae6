//! Operational endpoints: `GET /` (what this server is, with links), `GET /healthz` (the process
//! is up) and `GET /readyz` (a database round trip succeeds).

use crate::error::Error;
use crate::flows::Services;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Where a guide is: the binary serves no Markdown.
const DOCS: &str = "README.md and docs/ (api-guide.md, production.md) in the source repository";

pub async fn home(state: web::Data<Services>) -> HttpResponse {
    let mut links = json!({
        "openapi": "/v1/openapi.json",
        "healthz": "/healthz",
        "readyz": "/readyz",
        "metrics": "/metrics",
        "docs": DOCS,
    });
    if state.simulator {
        links["pos"] = json!("/pos");
    }
    HttpResponse::Ok().json(json!({
        "name": "pos-backend",
        "version": env!("CARGO_PKG_VERSION"),
        "mode": if state.simulator { "simulator" } else { "stripe" },
        "links": links,
    }))
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<Services>) -> Result<HttpResponse, Error> {
    state.db.ping().await?;
    let database = match state.db.backend() {
        crate::db::Backend::Postgres => "postgres",
        crate::db::Backend::Sqlite => "sqlite",
    };
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": database})))
}

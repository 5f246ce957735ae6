//! Operational endpoints: `GET /healthz` (the process is up) and `GET /readyz` (a database round
//! trip succeeds).

use crate::error::Error;
use crate::flows::Services;
use actix_web::{web, HttpResponse};
use serde_json::json;

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

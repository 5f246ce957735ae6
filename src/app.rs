//! Builds the actix application (state, routes, middleware) and runs it. Tests use the same
//! `Application::build`, on port 0.

use crate::api;
use crate::auth::Authenticator;
use crate::config::{Config, JwtKey, StripeMode};
use crate::crypto::SecretBox;
use crate::db::Db;
use crate::flows::Services;
use crate::jobs::instances::Instance;
use actix_web::body::EitherBody;
use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Logger};
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};
use std::net::{SocketAddr, TcpListener};
use stripe_client::secret::Secret;
use stripe_client::{StripeClient, StripeConfig};
use stripe_sim::{SimConfig, Simulator};

/// The platform key the backend uses against the embedded simulator.
pub const SIMULATOR_KEY: &str = "sk_test_simulator";

/// Where the embedded simulator is mounted.
pub const SIMULATOR_PATH: &str = "/sim/stripe";

/// How long an idle client connection is kept open. Longer than the idle time after which HTTP
/// clients drop a pooled connection (our Stripe client: 60 s), so a client never reuses a
/// connection the server is closing at that moment (a request lost with "connection closed before
/// message completed"); actix's default is 5 s.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// The request id of the current request (also sent back as `X-Request-Id`).
#[derive(Clone)]
pub struct RequestId(pub String);

/// A bound, ready-to-run server.
pub struct Application {
    address: SocketAddr,
    server: Server,
    services: std::sync::Arc<Services>,
    delivery: Option<crate::jobs::delivery::DeliveryConfig>,
    reconcile: Option<crate::jobs::reconcile::ReconcileConfig>,
    instance: Instance,
    heartbeat_db: Db,
}

impl Application {
    /// Connects the database (running migrations), binds the listener and builds the server.
    pub async fn build(config: Config) -> Result<Application, String> {
        let listener = TcpListener::bind(&config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let (url, pool_size) = (config.database_url.clone(), config.db_pool_size);
        let (db, migrations) =
            tokio::task::spawn_blocking(move || Db::connect_reporting(&url, pool_size))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        // The heartbeat has a connection of its own: a pool starved by a burst of requests must
        // not make this live instance look dead (and its Idempotency-Keys free) to the others.
        let url = config.database_url.clone();
        let heartbeat_db = tokio::task::spawn_blocking(move || Db::connect(&url, 1))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let instance = Instance::register(&heartbeat_db, config.instance.clone())
            .await
            .map_err(|e| format!("registering this instance: {e}"))?;
        let auth = match &config.jwt {
            JwtKey::Hs256(secret) => Authenticator::hs256(secret),
            JwtKey::Rs256PublicPem(pem) => {
                Authenticator::rs256(pem).map_err(|e| format!("POS_JWT_PUBLIC_KEY_FILE: {e}"))?
            }
        };
        let mut webhook_secrets = config.stripe_webhook_secrets.clone();
        let (simulator, platform_key, api_base) = match &config.stripe {
            StripeMode::Simulator => {
                let base = format!("http://{address}{SIMULATOR_PATH}");
                let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
                webhook_secrets.push(Secret::new(secret.clone()));
                let sim = Simulator::new(SimConfig {
                    webhook_url: Some(format!("http://{address}/v1/webhooks/stripe")),
                    webhook_secret: secret,
                    faults: Vec::new(),
                    limits: config.sim_limits,
                });
                (Some(sim), Secret::new(SIMULATOR_KEY.to_string()), base)
            }
            StripeMode::Stripe {
                api_base,
                secret_key,
            } => (None, secret_key.clone(), api_base.clone()),
        };
        let stripe = StripeClient::new(StripeConfig {
            api_base: api_base.clone(),
            timeout: config.stripe_timeout,
            ..StripeConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let state = web::Data::new(Services {
            db,
            stripe,
            platform_key,
            secrets: SecretBox::new(config.encryption_key.expose()),
            stripe_webhook_secrets: webhook_secrets,
            simulator: simulator.is_some(),
            clock: config.clock.clone(),
        });
        let worker_state = state.clone();
        let auth = web::Data::new(auth);
        let this_instance = web::Data::new(instance.clone());
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(this_instance.clone())
                .app_data(web::PayloadConfig::new(api::extract::BODY_LIMIT))
                .configure(api::configure);
            if let Some(sim) = &simulator {
                app = app.service(sim.scope(SIMULATOR_PATH));
            }
            app.default_service(web::to(|| async {
                Err::<HttpResponse, _>(api::errors::from_status(
                    actix_web::http::StatusCode::NOT_FOUND,
                ))
            }))
            .wrap(ErrorHandlers::new().default_handler(json_envelope))
            .wrap(actix_web::middleware::from_fn(api::idempotency::middleware))
            .wrap(actix_web::middleware::from_fn(
                api::extract::reject_nul_in_path,
            ))
            // Inside the request id's middleware: each error is logged once, with the id.
            .wrap(actix_web::middleware::from_fn(api::errors::log_errors))
            .wrap_fn(|req, srv| {
                let id = uuid::Uuid::new_v4().simple().to_string();
                req.extensions_mut().insert(RequestId(id.clone()));
                let response = srv.call(req);
                async move {
                    let mut response = response.await?;
                    if let Ok(value) = HeaderValue::from_str(&id) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static("x-request-id"), value);
                    }
                    Ok(response)
                }
            })
            .wrap(
                Logger::new("%{method}xi %U %s %Dms id=%{x-request-id}o")
                    .custom_request_replace("method", |req| req.method().to_string()),
            )
            .wrap(actix_web::middleware::from_fn(api::metrics::middleware))
        })
        .keep_alive(KEEP_ALIVE)
        .listen(listener)
        .map_err(|e| e.to_string())?
        .shutdown_timeout(10);
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        log::info!(
            "{}",
            startup_block(&config, address, &api_base, &migrations)
        );
        Ok(Application {
            address,
            server: server.run(),
            services: worker_state.into_inner(),
            delivery: config.delivery.clone(),
            reconcile: config.reconcile.clone(),
            instance,
            heartbeat_db,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The services the server and its workers share: for running a job's pass in the foreground
    /// (`jobs::delivery::deliver_due`, `jobs::reconcile::run_once`), as tests do with the
    /// background workers off.
    pub fn services(&self) -> std::sync::Arc<Services> {
        self.services.clone()
    }

    /// Serves until the process is asked to stop; then deregisters the instance, so that the
    /// Idempotency-Keys of requests cut short by the shutdown are free at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut workers = vec![actix_web::rt::spawn(crate::jobs::instances::run(
            self.heartbeat_db.clone(),
            self.instance.clone(),
        ))];
        if let Some(config) = self.delivery {
            workers.push(actix_web::rt::spawn(crate::jobs::delivery::run(
                self.services.clone(),
                config,
            )));
        }
        if let Some(config) = self.reconcile {
            workers.push(actix_web::rt::spawn(crate::jobs::reconcile::run(
                self.services.clone(),
                config,
            )));
        }
        let result = self.server.await;
        workers.iter().for_each(|w| w.abort());
        self.instance.deregister(&self.heartbeat_db).await;
        result
    }
}

/// The start-up log: mode, database, migrations, where to reach the server. One entry, so that
/// it reads as a block even among other processes' lines.
fn startup_block(
    config: &Config,
    address: SocketAddr,
    api_base: &str,
    migrations: &[String],
) -> String {
    let url = format!("http://{address}");
    let mode = match &config.stripe {
        StripeMode::Simulator => format!(
            "Stripe: SIMULATOR mode (no STRIPE_SECRET_KEY): the embedded simulator at {api_base}"
        ),
        StripeMode::Stripe { secret_key, .. } => {
            let live = stripe_client::StripeAccount::new(secret_key.expose().clone()).is_live();
            format!(
                "Stripe: LIVE API mode against {api_base} ({})",
                if live {
                    "live key: real money"
                } else {
                    "test key"
                }
            )
        }
    };
    let migrations = match migrations {
        [] => "up to date (none applied)".to_string(),
        names => format!("{} applied now: {}", names.len(), names.join(", ")),
    };
    let mut block = format!(
        "pos-backend {} started\n  {mode}\n  database: {}\n  migrations: {migrations}\n  listening on {url}\n  API description: {url}/v1/openapi.json",
        env!("CARGO_PKG_VERSION"),
        crate::config::describe_database(&config.database_url),
    );
    if matches!(config.stripe, StripeMode::Simulator) {
        block.push_str(&format!("\n  demo POS page: {url}/pos"));
    }
    block
}

/// Rewrites any error response that is not already JSON (actix's own plain-text errors) into our
/// envelope, so clients see one error format everywhere. The response keeps actix's error as the
/// detail, for `api::errors::log_errors`.
fn json_envelope<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let allow = res.headers().get(header::ALLOW).cloned();
    let detail = res.response().error().map(ToString::to_string);
    let (req, _) = res.into_parts();
    let mut error = api::errors::from_status(status);
    if let Some(detail) = detail {
        error = error.with_detail(detail);
    }
    let mut body = HttpResponse::from_error(error);
    if let Some(allow) = allow {
        // The router's 405 names the methods the path takes.
        body.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, body).map_body(|_, b| EitherBody::right(b)),
    ))
}

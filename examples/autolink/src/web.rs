//! The plugin's HTTP API: other plugins (and admins) add or replace a link
//! with `POST /plugins/mattermost-autolink/api/v1/link`.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use http::StatusCode;
use mattermost_plugin::Current;
use mattermost_plugin::http::UserId;
use mattermost_plugin::prelude::*;

use crate::config::Config;
use crate::link::Autolink as Link;
use crate::plugin::is_authorized_admin;

/// The header the server sets on a request from another plugin.
const PLUGIN_ID_HEADER: &str = "Mattermost-Plugin-ID";

/// The routes, with the configuration they read and change.
pub fn router(conf: Arc<Current<Config>>) -> Router {
    let api = Router::new()
        .route("/link", post(set_link))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn(admin_or_plugin));
    Router::new().nest("/api/v1", api).layer(Extension(conf))
}

/// Lets through requests from other plugins and from plugin admins.
async fn admin_or_plugin(
    Extension(cx): Extension<Context>,
    Extension(conf): Extension<Arc<Current<Config>>>,
    user: Option<UserId>,
    request: Request,
    next: Next,
) -> Response {
    let from_plugin = request.headers().get(PLUGIN_ID_HEADER).is_some_and(|id| !id.is_empty());
    let authorized = from_plugin
        || match user {
            Some(UserId(user)) => is_authorized_admin(&cx, &conf.get(), &user).await.unwrap_or(false),
            None => false,
        };
    if authorized { next.run(request).await } else { (StatusCode::UNAUTHORIZED, "Not authorized\n").into_response() }
}

/// Adds the link, or replaces the one with its name or pattern: 200 when
/// that changed the links, 304 when they already had it.
async fn set_link(
    Extension(cx): Extension<Context>,
    Extension(conf): Extension<Arc<Current<Config>>>,
    body: axum::body::Bytes,
) -> Response {
    // Read as Go's plugin reads it: keys in any case, `null` as nothing.
    let new = serde_json::from_slice(&body).and_then(mattermost_plugin::json::from_value_go::<Link>);
    let new = match new {
        Ok(link) => link,
        Err(e) => return internal_error(format!("unable to decode body: {e}")),
    };
    let mut links = conf.get().links.clone();
    let status = match links.iter_mut().find(|l| l.name == new.name || l.pattern == new.pattern) {
        Some(old) if *old == new => StatusCode::NOT_MODIFIED,
        Some(old) => {
            *old = new;
            StatusCode::OK
        }
        None => {
            links.push(new);
            StatusCode::OK
        }
    };
    if status == StatusCode::OK
        && let Err(e) = crate::command::save(&cx, &conf, links).await
    {
        return internal_error(format!("unable to save link: {e}"));
    }
    (status, Json(serde_json::json!({ "status": "OK" }))).into_response()
}

/// A 500 with the error's details, in the Go plugin's JSON shape.
fn internal_error(details: String) -> Response {
    let body = serde_json::json!({
        "error": "An internal error has occurred. Check app server logs for details.",
        "details": details,
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

//! `GET /metrics` on a standby: its own figures, not the serving hub's.
//!
//! Prometheus scrapes every replica as a target of its own. Were the
//! serving hub's exposition relayed, each standby would repeat its
//! counters and a sum over the job would count them once per replica; so
//! a standby answers with what it says of itself (`agentdeck_hub_serving
//! 0`, the newest id it read from the log), and only the serving replica
//! carries the hub's figures.
//!
//! Who may read metrics stays the serving hub's to say: the request is
//! sent there with its credentials first, and a refusal (401, 403) or no
//! answer is what the scraper gets.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Front, end_to_end, no_answer, relay, serving_address};
use crate::hub::metrics::scrape;
use crate::hub::pg::follow::Follower;
use crate::model::api;

/// How long the serving replica has to answer the check: a scrape is
/// itself bounded (Prometheus' default timeout is 10 s).
const CHECK_WITHIN: Duration = Duration::from_secs(5);

/// Whether `request` is a scrape.
pub(super) fn is_scrape(request: &Request) -> bool {
    request.method() == Method::GET && request.uri().path() == api::METRICS.template()
}

/// `GET /metrics` on a standby.
pub(super) async fn serve(front: &Front, follower: &Arc<Follower>, request: Request) -> Response {
    let leader = match serving_address(front, false).await {
        Ok(address) => address,
        Err(answer) => return answer,
    };
    let checked = front
        .http
        .get(format!("{leader}{}", api::METRICS.template()))
        .headers(end_to_end(request.headers()))
        .timeout(CHECK_WITHIN)
        .send()
        .await;
    match checked {
        Ok(answer) if answer.status().is_success() => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, scrape::CONTENT_TYPE)],
            scrape::standby_text(follower.head()),
        )
            .into_response(),
        Ok(refused) => relay(refused),
        Err(e) => no_answer(front, false, &leader, &e).await,
    }
}

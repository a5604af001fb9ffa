//! Bookings' HTTP API, under `/v1/` (the gateway maps `/api/v1/` here). One module per resource.
//!
//! RBAC in one place: patients act for themselves (their token's `sub` is their patient id),
//! admins for anyone, clinicians through their practitioner profile (`practitioners.user_id` =
//! their `sub`), services read. Devices may do nothing here.

pub mod appointment_types;
pub mod appointments;
pub mod fhir;
pub mod idempotency;
pub mod practitioners;
pub mod slots;
pub mod waitlist;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::Router;
use episante_kit::audit::AuditPublisher;
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::server::service_router;
use episante_kit::{ApiError, Metrics, Role, TokenVerifier};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::BookingsConfig;
use crate::domain::rules::Rules;

/// Roles that may read practitioners, appointment types and free slots (a service also needs the
/// `schedule:read` scope).
pub const READERS: &[Role] = &[Role::Admin, Role::Clinician, Role::Patient, Role::Service];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BookingOutcome {
    pub outcome: &'static str,
}

/// Shared by all handlers; cheap to clone.
/// `FromRef` lets extractors take a part of it (the token verifier, for `AuthUser`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub config: Arc<BookingsConfig>,
    pub rules: Rules,
    /// Woken after a commit that wrote outbox rows, so the relay publishes them at once.
    pub outbox: OutboxRelay,
    pub booking_outcomes: Family<BookingOutcome, Counter>,
    /// Every read and write of a patient's appointments is published for records' audit trail.
    pub audit: AuditPublisher,
}

impl AppState {
    pub fn new(
        pool: PgPool,
        verifier: Arc<TokenVerifier>,
        config: &BookingsConfig,
        metrics: &Metrics,
        audit: AuditPublisher,
        outbox: OutboxRelay,
    ) -> Self {
        let booking_outcomes = Family::<BookingOutcome, Counter>::default();
        metrics.register(
            "episante_bookings_attempts",
            "Booking and rescheduling attempts by outcome",
            booking_outcomes.clone(),
        );
        AppState {
            pool,
            verifier,
            config: Arc::new(config.clone()),
            rules: Rules::from_config(config),
            outbox,
            booking_outcomes,
            audit,
        }
    }

    pub fn count_outcome(&self, outcome: &'static str) {
        self.booking_outcomes
            .get_or_create(&BookingOutcome { outcome })
            .inc();
    }
}

/// `limit` / `offset` of list endpoints.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

impl PageParams {
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        episante_kit::paging::page(self.limit, self.offset, 50, 500)
    }
}

/// The offset of the next page when this one came back full (there may be more).
pub fn next_offset(returned: usize, limit: i64, offset: i64) -> Option<i64> {
    episante_kit::paging::next_offset(returned, limit, offset)
}

/// One page of a list and, when asked for, how many match in all: what a JSON list handler and
/// the FHIR search over the same rows share (a searchset has a `total`; JSON pages do not count).
#[derive(Debug)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub limit: i64,
    pub offset: i64,
    pub total: Option<i64>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante bookings service", version = "1"),
    tags(
        (name = "practitioners", description = "Practitioner profiles and availability"),
        (name = "appointment-types", description = "What can be booked, and for how long"),
        (name = "slots", description = "Free slot search"),
        (name = "appointments", description = "Booking, cancelling, rescheduling, agenda"),
        (name = "waitlist", description = "Waiting for a freed slot"),
        (name = "fhir", description = "FHIR R4: Practitioner, Schedule, Slot, Appointment"),
    )
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(practitioners::create, practitioners::list))
        .routes(routes!(practitioners::get))
        .routes(routes!(
            practitioners::put_availability,
            practitioners::get_availability
        ))
        .routes(routes!(appointment_types::create, appointment_types::list))
        .routes(routes!(slots::search))
        .routes(routes!(appointments::book, appointments::list))
        .routes(routes!(appointments::get))
        .routes(routes!(appointments::cancel))
        .routes(routes!(appointments::reschedule))
        .routes(routes!(appointments::mark_arrived))
        .routes(routes!(appointments::mark_noshow))
        .routes(routes!(appointments::mark_fulfilled))
        .routes(routes!(waitlist::join, waitlist::list))
        .routes(routes!(waitlist::leave))
        .routes(routes!(fhir::practitioners))
        .routes(routes!(fhir::practitioner))
        .routes(routes!(fhir::schedules))
        .routes(routes!(fhir::schedule))
        .routes(routes!(fhir::slots))
        .routes(routes!(fhir::appointments))
        .routes(routes!(fhir::appointment))
        .with_state(state);
    service_router(api, metrics, pool)
}

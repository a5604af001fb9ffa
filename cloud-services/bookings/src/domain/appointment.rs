//! Appointment statuses (FHIR `Appointment.status`, the subset a booking system needs) and the
//! moves between them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Booked,
    Arrived,
    Fulfilled,
    Cancelled,
    Noshow,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Booked,
        Status::Arrived,
        Status::Fulfilled,
        Status::Cancelled,
        Status::Noshow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Booked => "booked",
            Status::Arrived => "arrived",
            Status::Fulfilled => "fulfilled",
            Status::Cancelled => "cancelled",
            Status::Noshow => "noshow",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The statuses an appointment may be in for a practitioner to move it to `self`.
    pub fn allowed_from(self) -> &'static [Status] {
        match self {
            Status::Arrived | Status::Noshow => &[Status::Booked],
            Status::Fulfilled => &[Status::Booked, Status::Arrived],
            Status::Booked | Status::Cancelled => &[Status::Booked],
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_booked_ones_move_to_arrived() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::Arrived.allowed_from(), &[Status::Booked]);
        assert!(Status::Fulfilled.allowed_from().contains(&Status::Arrived));
    }
}

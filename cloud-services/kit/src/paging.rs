//! `limit` / `offset` of list endpoints, checked the same way by every service.

use crate::ApiError;

/// `(limit, offset)`: `limit` defaults to `default` and must be 1 to `max`, `offset` defaults to
/// 0 and must not be negative (422 otherwise).
pub fn page(
    limit: Option<i64>,
    offset: Option<i64>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(default);
    let offset = offset.unwrap_or(0);
    if !(1..=max).contains(&limit) || offset < 0 {
        return Err(ApiError::Invalid(format!(
            "limit must be 1 to {max} and offset not negative"
        )));
    }
    Ok((limit, offset))
}

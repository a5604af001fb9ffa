//! `limit` / `offset` of list endpoints, checked the same way by every service.

use crate::ApiError;

/// Largest `offset` accepted: no list is this long, and `offset + limit` can never overflow.
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// `(limit, offset)`: `limit` defaults to `default` and must be 1 to `max`, `offset` defaults to
/// 0 and must be 0 to [`MAX_OFFSET`] (422 otherwise).
pub fn page(
    limit: Option<i64>,
    offset: Option<i64>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(default);
    let offset = offset.unwrap_or(0);
    if !(1..=max).contains(&limit) || !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::Invalid(format!(
            "limit must be 1 to {max} and offset 0 to {MAX_OFFSET}"
        )));
    }
    Ok((limit, offset))
}

/// The offset of the next page when this one was full.
pub fn next_offset(returned: usize, limit: i64, offset: i64) -> Option<i64> {
    (returned as i64 == limit)
        .then(|| offset.checked_add(limit))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_bounded_and_never_overflow() {
        assert_eq!(page(None, None, 50, 100).unwrap(), (50, 0));
        assert!(page(Some(10), Some(i64::MAX - 1), 50, 100).is_err());
        assert!(page(Some(10), Some(-1), 50, 100).is_err());
        assert!(page(Some(0), None, 50, 100).is_err());
        assert_eq!(
            page(Some(10), Some(MAX_OFFSET), 50, 100).unwrap(),
            (10, MAX_OFFSET)
        );
        assert_eq!(next_offset(10, 10, 20), Some(30));
        assert_eq!(next_offset(9, 10, 20), None);
        assert_eq!(next_offset(10, 10, i64::MAX - 1), None);
    }
}

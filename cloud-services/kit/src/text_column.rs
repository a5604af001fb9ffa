//! Domain enums stored in `text` columns, decoded where rows are read.
//!
//! A domain value (an alert's severity, an appointment's status) stays an enum from the API to
//! the database: `text_column!(Severity)` lets sqlx bind it and read it back as that enum, so no
//! layer compares it as a string, and a row holding a value the code does not know fails to
//! decode (a server-side error at the row, never a wrong answer). The type needs
//! `fn as_str(self) -> &'static str` and `fn parse(&str)` returning an `Option<Self>` or a
//! `Result<Self, _>`; the impls live in the service's `db/`, keeping `domain/` free of SQL.

/// What a type's `parse` returns, as an `Option` (used by [`text_column!`]).
pub trait Parsed<T> {
    fn parsed(self) -> Option<T>;
}

impl<T> Parsed<T> for Option<T> {
    fn parsed(self) -> Option<T> {
        self
    }
}

impl<T, E> Parsed<T> for Result<T, E> {
    fn parsed(self) -> Option<T> {
        self.ok()
    }
}

/// Implements sqlx's `Type`, `Encode`, `Decode` and `PgHasArrayType` for PostgreSQL `text` on
/// each listed type through its `as_str` and `parse`.
#[macro_export]
macro_rules! text_column {
    ($($t:ty),+ $(,)?) => {$(
        impl ::sqlx::Type<::sqlx::Postgres> for $t {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }
        impl ::sqlx::postgres::PgHasArrayType for $t {
            fn array_type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $t {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> ::std::result::Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?;
                $crate::text_column::Parsed::parsed(<$t>::parse(text)).ok_or_else(|| {
                    format!("{text:?} is not a {}", stringify!($t)).into()
                })
            }
        }
        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> ::std::result::Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    )+};
}

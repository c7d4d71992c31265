//! Provenance: the build args every image records, and the OCI labels the
//! Dockerfiles set from them.

use anyhow::Result;
use time::{OffsetDateTime, UtcOffset};

use crate::model::labels;
use crate::model::reference::AnyRef;
use crate::plan::arg::Arg;
use crate::support::error::invalid;

/// The moment recorded as CREATION_DATE: SOURCE_DATE_EPOCH (in UTC) when
/// set, else now in the local time zone.
pub fn creation_time(
    source_date_epoch: Option<&str>,
    now_utc: OffsetDateTime,
    local: UtcOffset,
) -> Result<OffsetDateTime> {
    match source_date_epoch {
        Some(s) => {
            let ok = !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
            let secs: i64 = if ok { s.parse().unwrap_or(-1) } else { -1 };
            if secs < 0 {
                return Err(invalid(format!(
                    "SOURCE_DATE_EPOCH='{s}' is not a whole number of seconds since 1970; unset it or give e.g. $(git log -1 --format=%ct)"
                )));
            }
            let t = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| {
                invalid(format!(
                    "SOURCE_DATE_EPOCH='{s}' is out of range (years 1970 to 9999)"
                ))
            })?;
            if t.year() > 9999 {
                return Err(invalid(format!(
                    "SOURCE_DATE_EPOCH='{s}' is out of range (years 1970 to 9999)"
                )));
            }
            Ok(t)
        }
        None => Ok(now_utc.to_offset(local)),
    }
}

/// `date +"%Y-%m-%dT%H:%M:%S%:z"`, e.g. `2026-11-24T12:05:09+01:00`.
pub fn creation_date(t: OffsetDateTime) -> String {
    let off = t.offset();
    let secs = off.whole_seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        abs / 3600,
        (abs % 3600) / 60
    )
}

pub use crate::model::labels::PROVENANCE_ARGS as ARGS;

/// The documented build args, in order, for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub commit_hash: String,
    pub base_img_name: AnyRef,
    /// Known now, or a slot filled after the base is pulled.
    pub base_img_digest: Arg,
    pub itwinai_version: String,
    pub creation_date: String,
    pub image_full_name: String,
}

impl Provenance {
    /// The six provenance args and their values, in [`ARGS`] order.
    fn values(&self) -> [(&'static str, Arg); 6] {
        let lit = |s: &str| Arg::Lit(s.to_string());
        [
            (ARGS[0], lit(&self.commit_hash)),
            (ARGS[1], lit(&self.base_img_name.to_string())),
            (ARGS[2], self.base_img_digest.clone()),
            (ARGS[3], lit(&self.itwinai_version)),
            (ARGS[4], lit(&self.creation_date)),
            (ARGS[5], lit(&self.image_full_name)),
        ]
    }

    /// `NAME=value` pairs: the documented six, then the flavour's own.
    pub fn build_args(&self, extra: &[(String, String)]) -> Vec<(String, Arg)> {
        let mut args: Vec<(String, Arg)> = self
            .values()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        args.extend(extra.iter().map(|(k, v)| (k.clone(), Arg::Lit(v.clone()))));
        args
    }

    /// The OCI labels the image must carry, and their values.
    pub fn labels(&self) -> Vec<(String, Arg)> {
        let values = self.values();
        labels::FROM_ARGS
            .iter()
            .filter_map(|(label, arg)| {
                let (_, v) = values.iter().find(|(k, _)| k == arg)?;
                Some((label.to_string(), v.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn formats_like_date() {
        let plus1 = UtcOffset::from_hms(1, 0, 0).unwrap();
        let minus530 = UtcOffset::from_hms(-5, -30, 0).unwrap();
        // 2026-11-24T11:05:09Z
        let t = at(1_795_518_309);
        assert_eq!(creation_date(t), "2026-11-24T11:05:09+00:00");
        assert_eq!(
            creation_date(t.to_offset(plus1)),
            "2026-11-24T12:05:09+01:00"
        );
        assert_eq!(
            creation_date(t.to_offset(minus530)),
            "2026-11-24T05:35:09-05:30"
        );
        assert_eq!(creation_date(at(0)), "1970-01-01T00:00:00+00:00");
    }

    #[test]
    fn source_date_epoch_wins_and_is_utc() {
        let plus1 = UtcOffset::from_hms(1, 0, 0).unwrap();
        let now = at(1_795_518_309);
        let t = creation_time(Some("86400"), now, plus1).unwrap();
        assert_eq!(creation_date(t), "1970-01-02T00:00:00+00:00");
        let t = creation_time(None, now, plus1).unwrap();
        assert_eq!(creation_date(t), "2026-11-24T12:05:09+01:00");
        for bad in [
            "",
            "abc",
            "-1",
            "1.5",
            " 1",
            "99999999999999999999",
            "999999999999999",
        ] {
            let err = creation_time(Some(bad), now, plus1).unwrap_err();
            assert_eq!(crate::support::error::exit_code(&err), 2, "{bad:?}");
            assert!(format!("{err}").contains("SOURCE_DATE_EPOCH"), "{bad:?}");
        }
    }

    #[test]
    fn build_args_in_documented_order() {
        let p = Provenance {
            commit_hash: "c".into(),
            base_img_name: AnyRef::parse("b:1").unwrap(),
            base_img_digest: Arg::Lit("b@sha256:1".into()),
            itwinai_version: "0.2.2".into(),
            creation_date: "d".into(),
            image_full_name: "r:t".into(),
        };
        let names: Vec<String> = p
            .build_args(&[("EXTRA".into(), "v".into())])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            names,
            [
                "COMMIT_HASH",
                "BASE_IMG_NAME",
                "BASE_IMG_DIGEST",
                "ITWINAI_VERSION",
                "CREATION_DATE",
                "IMAGE_FULL_NAME",
                "EXTRA"
            ]
        );
        assert_eq!(p.labels().len(), 6);
        assert_eq!(
            p.labels()[3],
            (labels::REF_NAME.into(), Arg::Lit("r:t".into()))
        );
    }
}

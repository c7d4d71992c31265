//! What coreutils print that the tool reads: `sha256sum`'s lines.

/// The digests (`sha256:<hex>`) `sha256sum -- FILES…` printed, one per
/// file in the order given, each line naming its file.
pub fn parse_sha256sum(text: &str, files: &[String]) -> Result<Vec<String>, String> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != files.len() {
        return Err(format!(
            "sha256sum printed {} lines for {} files",
            lines.len(),
            files.len()
        ));
    }
    lines
        .iter()
        .zip(files)
        .map(|(line, file)| {
            let (hex, name) = line
                .split_once("  ")
                .ok_or_else(|| format!("sha256sum printed {line:?}"))?;
            let digest = format!("sha256:{hex}");
            crate::support::digest::check_sha256(&digest)?;
            if name != file {
                return Err(format!(
                    "sha256sum printed {line:?} where {file:?} was asked"
                ));
            }
            Ok(digest)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn each_file_gets_its_line() {
        let files = vec!["/u/a".to_string(), "/u/b c".to_string()];
        let text = format!("{A}  /u/a\n{A}  /u/b c\n");
        assert_eq!(
            parse_sha256sum(&text, &files).unwrap(),
            vec![format!("sha256:{A}"), format!("sha256:{A}")]
        );
        for bad in [
            format!("{A}  /u/a\n"),
            format!("{A}  /u/b c\n{A}  /u/a\n"),
            format!("{A} /u/a\n{A}  /u/b c\n"),
            format!("xyz  /u/a\n{A}  /u/b c\n"),
            format!("\\{A}  /u/a\n{A}  /u/b c\n"),
        ] {
            assert!(parse_sha256sum(&bad, &files).is_err(), "{bad:?}");
        }
    }
}

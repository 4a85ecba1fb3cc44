//! Secret keys kept as hex in a file: created once (mode 0600) in monolithic
//! mode, mounted from a Kubernetes Secret in distributed mode.

use std::{
    io::Write,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

/// Failure to load or create a key file.
#[derive(Debug, thiserror::Error)]
#[error("key file {path}: {reason}")]
pub struct KeyFileError {
    path: String,
    reason: String,
}

/// Loads the key in `path`, creating 32 random bytes (0600) if the file
/// does not exist. Two processes racing to create it end up with one key.
pub(crate) fn load_or_create(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let err = failure(path);
    match std::fs::read_to_string(path) {
        Ok(text) => from_hex(text.trim()).map_err(err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let key: [u8; 32] = rand::random();
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(hex.as_bytes())
                        .and_then(|_| file.sync_all())
                        .map_err(|e| err(e.to_string()))?;
                    Ok(key.to_vec())
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
                Err(e) => Err(err(e.to_string())),
            }
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Loads an existing key file.
pub(crate) fn load(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let err = failure(path);
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    from_hex(text.trim()).map_err(err)
}

/// The error of `path` for a reason.
fn failure(path: &Path) -> impl Fn(String) -> KeyFileError + '_ {
    move |reason| KeyFileError {
        path: path.display().to_string(),
        reason,
    }
}

fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() < 32 || !hex.len().is_multiple_of(2) {
        return Err("key must be at least 16 bytes of hex".into());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| "key is not hex".to_string())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_private_and_loads_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = load_or_create(&path).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(load(&path).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn short_or_non_hex_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("short", "abcd"), ("nonhex", &"zz".repeat(20))] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert!(load(&path).is_err(), "{name}");
        }
    }
}

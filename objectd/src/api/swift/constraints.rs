//! Swift's constraints: name lengths, metadata limits, and the extraction of
//! metadata headers from a request with those limits checked.

use http::HeaderMap;

pub const MAX_META_NAME_LENGTH: usize = 128;
pub const MAX_META_VALUE_LENGTH: usize = 256;
pub const MAX_META_COUNT: usize = 90;
pub const MAX_META_OVERALL_SIZE: usize = 4096;
pub const MAX_HEADER_SIZE: usize = 8192;
pub const MAX_OBJECT_NAME_LENGTH: usize = 1024;
pub const MAX_CONTAINER_NAME_LENGTH: usize = 256;
pub const MAX_ACCOUNT_NAME_LENGTH: usize = 256;
pub const LISTING_LIMIT: usize = 10_000;
/// Swift's default largest object: 5 GiB + 2 bytes.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024 + 2;

/// Which resource's metadata a request carries.
#[derive(Clone, Copy)]
pub enum Kind {
    Account,
    Container,
    Object,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Account => "x-account-meta-",
            Kind::Container => "x-container-meta-",
            Kind::Object => "x-object-meta-",
        }
    }

    fn remove_prefix(self) -> &'static str {
        match self {
            Kind::Account => "x-remove-account-meta-",
            Kind::Container => "x-remove-container-meta-",
            Kind::Object => "x-remove-object-meta-",
        }
    }
}

/// Headers stored with a container beside its `X-Container-Meta-*`.
const CONTAINER_SYSTEM: &[&str] = &["x-container-read", "x-container-write"];
/// Headers stored with an object beside its `X-Object-Meta-*`.
pub const OBJECT_SYSTEM: &[&str] = &["content-disposition", "content-encoding"];

/// Collects the metadata a request sets (empty value: remove), checking
/// Swift's limits; the error is the 400 message.
pub fn metadata(headers: &HeaderMap, kind: Kind) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let (mut count, mut size) = (0usize, 0usize);
    for (name, value) in headers {
        let name = name.as_str();
        let value = value
            .to_str()
            .map_err(|_| format!("Metadata value for {name} is not valid text"))?;
        let (stored, key) = if let Some(key) = name.strip_prefix(kind.prefix()) {
            (name.to_string(), key)
        } else if let Some(key) = name.strip_prefix(kind.remove_prefix()) {
            out.push((format!("{}{key}", kind.prefix()), String::new()));
            continue;
        } else if matches!(kind, Kind::Container) && CONTAINER_SYSTEM.contains(&name) {
            out.push((name.to_string(), value.to_string()));
            continue;
        } else if let Some(system) = removed_container_system(kind, name) {
            out.push((system, String::new()));
            continue;
        } else if matches!(kind, Kind::Object) && OBJECT_SYSTEM.contains(&name) {
            out.push((name.to_string(), value.to_string()));
            continue;
        } else {
            continue;
        };
        if key.is_empty() {
            return Err("Metadata name cannot be empty".into());
        }
        if key.len() > MAX_META_NAME_LENGTH {
            return Err(format!("Metadata name too long: {name}"));
        }
        if value.len() > MAX_META_VALUE_LENGTH {
            return Err(format!(
                "Metadata value longer than {MAX_META_VALUE_LENGTH}: {name}"
            ));
        }
        count += 1;
        size += key.len() + value.len();
        if count > MAX_META_COUNT {
            return Err(format!("Too many metadata items; max {MAX_META_COUNT}"));
        }
        if size > MAX_META_OVERALL_SIZE {
            return Err(format!(
                "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
            ));
        }
        out.push((stored, value.to_string()));
    }
    Ok(out)
}

/// `x-remove-container-read` → `x-container-read` (and `-write`).
fn removed_container_system(kind: Kind, name: &str) -> Option<String> {
    let system = format!("x-{}", name.strip_prefix("x-remove-")?);
    let known = matches!(kind, Kind::Container) && CONTAINER_SYSTEM.contains(&system.as_str());
    known.then_some(system)
}

/// Checks that the metadata after a merge stays within the overall limits.
pub fn check_merged(current: &[(String, String)], kind: Kind) -> Result<(), String> {
    let metas: Vec<_> = current
        .iter()
        .filter(|(n, _)| n.starts_with(kind.prefix()))
        .collect();
    if metas.len() > MAX_META_COUNT {
        return Err(format!("Too many metadata items; max {MAX_META_COUNT}"));
    }
    let size: usize = metas
        .iter()
        .map(|(n, v)| n.len() - kind.prefix().len() + v.len())
        .sum();
    if size > MAX_META_OVERALL_SIZE {
        return Err(format!(
            "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
        ));
    }
    Ok(())
}

/// Checks a container name from the path; the error is the 400 message.
pub fn check_container_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_CONTAINER_NAME_LENGTH {
        return Err(format!(
            "Container name length of {} longer than {MAX_CONTAINER_NAME_LENGTH}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("Invalid container name".into());
    }
    Ok(())
}

/// Checks an object name from the path; the error is the 400 message.
pub fn check_object_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_OBJECT_NAME_LENGTH {
        return Err(format!(
            "Object name length of {} longer than {MAX_OBJECT_NAME_LENGTH}",
            name.len()
        ));
    }
    if name.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("Object name contains a relative path segment".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn metadata_limits() {
        let ok = metadata(
            &headers(&[
                ("x-object-meta-color", "blue"),
                ("x-remove-object-meta-old", "x"),
                ("content-type", "a/b"),
            ]),
            Kind::Object,
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert!(ok.contains(&("x-object-meta-old".into(), String::new())));
        let long_name = format!("x-object-meta-{}", "n".repeat(129));
        assert!(metadata(&headers(&[(&long_name, "v")]), Kind::Object).is_err());
        let long_value = "v".repeat(257);
        assert!(metadata(&headers(&[("x-object-meta-a", &long_value)]), Kind::Object).is_err());
        let many: Vec<(String, String)> = (0..91)
            .map(|i| (format!("x-container-meta-k{i}"), "v".to_string()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert!(metadata(&headers(&many), Kind::Container).is_err());
    }

    #[test]
    fn names() {
        assert!(check_object_name("a/b/c").is_ok());
        assert!(check_object_name("a/../c").is_err());
        assert!(check_object_name("..").is_err());
        assert!(check_object_name(&"x".repeat(1025)).is_err());
        assert!(check_container_name(&"x".repeat(257)).is_err());
        assert!(check_container_name("ok").is_ok());
    }
}

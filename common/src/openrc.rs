//! The `openrc` file `cairn up` writes: the `ST_*` variables of the swift
//! CLI for the admin user. One definition renders it (the launcher) and
//! parses it (the test harness and `cairn-bench`).

use std::net::SocketAddr;

/// What an openrc file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRc {
    /// `ST_AUTH`, e.g. `http://127.0.0.1:8080/auth/v1.0`.
    pub auth_url: String,
    /// `ST_USER`, `account:user`.
    pub user: String,
    /// `ST_KEY`.
    pub key: String,
}

impl OpenRc {
    /// The v1.0 auth credentials of `account:user` on the object service at `addr`.
    pub fn for_object_service(addr: SocketAddr, account: &str, user: &str, key: &str) -> OpenRc {
        OpenRc {
            auth_url: format!("http://{addr}/auth/v1.0"),
            user: format!("{account}:{user}"),
            key: key.to_string(),
        }
    }

    /// The file's text: sourceable shell.
    pub fn render(&self) -> String {
        format!(
            "# Cairn credentials for the admin user; source this file.\n\
             export ST_AUTH={}\nexport ST_USER={}\nexport ST_KEY={}\n",
            self.auth_url, self.user, self.key
        )
    }

    /// Parses the `export NAME=value` lines; `None` unless all three
    /// variables are there and not empty.
    pub fn parse(text: &str) -> Option<OpenRc> {
        let get = |name: &str| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("export "))
                .filter_map(|l| l.split_once('='))
                .find(|(n, _)| n.trim() == name)
                .map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
                .filter(|v| !v.is_empty())
        };
        Some(OpenRc {
            auth_url: get("ST_AUTH")?,
            user: get("ST_USER")?,
            key: get("ST_KEY")?,
        })
    }

    /// The address and path of `ST_AUTH`, when it is a plain `http://ip:port/path` URL.
    pub fn auth_endpoint(&self) -> Option<(SocketAddr, String)> {
        let rest = self.auth_url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/')?;
        Some((host.parse().ok()?, format!("/{path}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let rc = OpenRc::for_object_service(addr, "admin", "admin", "k3y");
        let back = OpenRc::parse(&rc.render()).expect("parses what it renders");
        assert_eq!(back, rc);
        assert_eq!(back.auth_endpoint(), Some((addr, "/auth/v1.0".to_string())));
        assert_eq!(
            OpenRc::parse("export ST_AUTH=\"x\"\nexport ST_USER='a:b'\nexport ST_KEY=z\n")
                .map(|r| r.key),
            Some("z".into())
        );
        assert!(OpenRc::parse("export ST_AUTH=x\nexport ST_USER=a:b\n").is_none());
        assert!(OpenRc::parse("export ST_AUTH=x\nexport ST_USER=a:b\nexport ST_KEY=\n").is_none());
        assert!(OpenRc {
            auth_url: "https://h/x".into(),
            user: String::new(),
            key: String::new()
        }
        .auth_endpoint()
        .is_none());
    }
}

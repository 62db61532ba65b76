//! The `openrc` file `cairn up` writes: the `ST_*` variables of the swift
//! CLI for the admin user, the `OS_*` variables of the `openstack` CLI
//! (Keystone v3) when identity runs, and, when S3 is served, the `AWS_*`
//! variables of the AWS CLI and SDKs for the admin's S3 key. One definition
//! renders it (the launcher) and parses it (the test harness and
//! `cairn-bench`).

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
    /// The S3 credentials and endpoint, if any.
    pub s3: Option<S3Env>,
    /// The `OS_*` variables, when identity runs.
    pub identity: Option<IdentityRc>,
}
/// The `OS_*` variables of a Keystone v3 password login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityRc {
    /// `OS_AUTH_URL`, e.g. `http://127.0.0.1:5000/v3`.
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    /// `OS_USER_DOMAIN_NAME` and `OS_PROJECT_DOMAIN_NAME`.
    pub domain_name: String,
}

impl IdentityRc {
    /// The variables in the order they are written.
    pub fn vars(&self) -> [(&'static str, &str); 7] {
        [
            ("OS_AUTH_URL", &self.auth_url),
            ("OS_USERNAME", &self.username),
            ("OS_PASSWORD", &self.password),
            ("OS_PROJECT_NAME", &self.project_name),
            ("OS_USER_DOMAIN_NAME", &self.domain_name),
            ("OS_PROJECT_DOMAIN_NAME", &self.domain_name),
            ("OS_IDENTITY_API_VERSION", "3"),
        ]
    }

    /// The address of `OS_AUTH_URL`, when it is a plain `http://ip:port/...` URL.
    pub fn addr(&self) -> Option<SocketAddr> {
        let rest = self.auth_url.strip_prefix("http://")?;
        rest.split('/').next()?.parse().ok()
    }
}

/// The `AWS_*` variables of an openrc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Env {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_ENDPOINT_URL`, e.g. `http://127.0.0.1:8080`.
    pub endpoint_url: String,
}

/// The region rendered as `AWS_DEFAULT_REGION` (S3 clients want one).
pub const S3_REGION: &str = "us-east-1";

impl OpenRc {
    /// The v1.0 auth credentials of `account:user` on the object service at `addr`.
    pub fn for_object_service(addr: SocketAddr, account: &str, user: &str, key: &str) -> OpenRc {
        OpenRc {
            auth_url: format!("http://{addr}/auth/v1.0"),
            user: format!("{account}:{user}"),
            key: key.to_string(),
            s3: None,
            identity: None,
        }
    }

    /// The same with the `OS_*` variables of a Keystone login.
    pub fn with_identity(mut self, identity: IdentityRc) -> OpenRc {
        self.identity = Some(identity);
        self
    }

    /// Adds the S3 key pair of the object service at `addr`.
    pub fn with_s3(
        mut self,
        addr: SocketAddr,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> OpenRc {
        self.s3 = Some(S3Env {
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
            endpoint_url: format!("http://{addr}"),
        });
        self
    }

    /// The file's text: sourceable shell.
    pub fn render(&self) -> String {
        let mut text = format!(
            "# Cairn credentials for the admin user; source this file.\n\
             export ST_AUTH={}\nexport ST_USER={}\nexport ST_KEY={}\n\
             export ST_AUTH_VERSION=1.0\n",
            self.auth_url, self.user, self.key
        );
        if let Some(s3) = &self.s3 {
            text.push_str(&format!(
                "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n\
                 export AWS_ENDPOINT_URL={}\nexport AWS_DEFAULT_REGION={S3_REGION}\n",
                s3.access_key_id, s3.secret_access_key, s3.endpoint_url
            ));
        }
        if let Some(id) = &self.identity {
            for (name, value) in id.vars() {
                text.push_str(&format!("export {name}={}\n", shell_quote(value)));
            }
        }
        text
    }

    /// Parses the `export NAME=value` lines; `None` unless all three `ST_*`
    /// variables are there and not empty. `s3` is set when the three
    /// `AWS_*` variables are.
    pub fn parse(text: &str) -> Option<OpenRc> {
        let get = |name: &str| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("export "))
                .filter_map(|l| l.split_once('='))
                .find(|(n, _)| n.trim() == name)
                .map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
                .filter(|v| !v.is_empty())
        };
        let identity = (|| {
            Some(IdentityRc {
                auth_url: get("OS_AUTH_URL")?,
                username: get("OS_USERNAME")?,
                password: get("OS_PASSWORD")?,
                project_name: get("OS_PROJECT_NAME")?,
                domain_name: get("OS_USER_DOMAIN_NAME")?,
            })
        })();
        Some(OpenRc {
            identity,
            auth_url: get("ST_AUTH")?,
            user: get("ST_USER")?,
            key: get("ST_KEY")?,
            s3: match (
                get("AWS_ACCESS_KEY_ID"),
                get("AWS_SECRET_ACCESS_KEY"),
                get("AWS_ENDPOINT_URL"),
            ) {
                (Some(access_key_id), Some(secret_access_key), Some(endpoint_url)) => Some(S3Env {
                    access_key_id,
                    secret_access_key,
                    endpoint_url,
                }),
                _ => None,
            },
        })
    }

    /// The address and path of `ST_AUTH`, when it is a plain `http://ip:port/path` URL.
    pub fn auth_endpoint(&self) -> Option<(SocketAddr, String)> {
        let rest = self.auth_url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/')?;
        Some((host.parse().ok()?, format!("/{path}")))
    }
}

/// Single-quotes a value for the shell when it holds anything but safe characters.
fn shell_quote(v: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:%@+=,".contains(c);
    if !v.is_empty() && v.chars().all(safe) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
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
        assert_eq!(back.s3, None);
        let with_s3 = rc.clone().with_s3(addr, "AKID", "s3cr3t");
        let text = with_s3.render();
        assert!(text.contains("export AWS_ENDPOINT_URL=http://127.0.0.1:8080\n"));
        assert!(text.contains("export AWS_DEFAULT_REGION=us-east-1\n"));
        let back = OpenRc::parse(&text).expect("parses what it renders");
        assert_eq!(back, with_s3);
        assert_eq!(back.s3.expect("s3 set").secret_access_key, "s3cr3t");
        assert!(with_s3.identity.is_none());
        let id = IdentityRc {
            auth_url: "http://127.0.0.1:5000/v3".into(),
            username: "admin".into(),
            password: "pw".into(),
            project_name: "admin".into(),
            domain_name: "Default".into(),
        };
        let rc = with_s3.with_identity(id.clone());
        let text = rc.render();
        assert!(text.contains("export OS_IDENTITY_API_VERSION=3\n"));
        // The swift CLI would take OS_IDENTITY_API_VERSION as its own
        // auth version; the ST_* credentials are v1.0.
        assert!(text.contains("export ST_AUTH_VERSION=1.0\n"));
        assert!(text.contains("export OS_PROJECT_DOMAIN_NAME=Default\n"));
        let back = OpenRc::parse(&text).expect("parses with OS_* lines");
        assert_eq!(back, rc);
        assert_eq!(id.addr(), Some("127.0.0.1:5000".parse().expect("addr")));
        assert!(OpenRc {
            auth_url: "https://h/x".into(),
            user: String::new(),
            key: String::new(),
            s3: None,
            identity: None,
        }
        .auth_endpoint()
        .is_none());
    }
}

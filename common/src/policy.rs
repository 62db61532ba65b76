//! Policy rules over a token's roles, in oslo.policy's words: each action
//! maps to a rule such as `role:admin or role:reader or owner`. A service
//! starts from its defaults and a rules file (JSON: `{"action": "rule"}`)
//! overrides any of them, as Keystone's and Glance's `policy.json` does.
//!
//! Terms: `role:NAME`, `owner` (the target is the caller's own, as the
//! service decides), `system_scope:all`, `is_admin_project:True`, `@`
//! (anyone), `!` (no one) and `rule:NAME` (another action's rule); joined
//! with `and`, `or` and `not`, grouped with parentheses.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};

use crate::token::Claims;

/// A parsed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Always,
    Never,
    Role(String),
    Owner,
    SystemScope,
    AdminProject,
    Rule(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

fn tokens(rule: &str) -> Vec<String> {
    rule.replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> anyhow::Result<Expr> {
        let mut terms = vec![self.and()?];
        while self.peek() == Some("or") {
            self.at += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> anyhow::Result<Expr> {
        let mut terms = vec![self.term()?];
        while self.peek() == Some("and") {
            self.at += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn term(&mut self) -> anyhow::Result<Expr> {
        let Some(t) = self.next() else {
            bail!("the rule ends too soon");
        };
        Ok(match t.as_str() {
            "not" => Expr::Not(Box::new(self.term()?)),
            "(" => {
                let inner = self.or()?;
                if self.next().as_deref() != Some(")") {
                    bail!("a parenthesis is not closed");
                }
                inner
            }
            "@" => Expr::Always,
            "!" => Expr::Never,
            "owner" => Expr::Owner,
            "system_scope:all" => Expr::SystemScope,
            "is_admin_project:True" => Expr::AdminProject,
            other => match other.split_once(':') {
                Some(("role", name)) if !name.is_empty() => Expr::Role(name.to_string()),
                Some(("rule", name)) if !name.is_empty() => Expr::Rule(name.to_string()),
                _ => bail!("unknown term {other:?}"),
            },
        })
    }
}

fn parse(rule: &str) -> anyhow::Result<Expr> {
    let mut p = Parser {
        tokens: tokens(rule),
        at: 0,
    };
    if p.tokens.is_empty() {
        return Ok(Expr::Always);
    }
    let e = p.or()?;
    if p.at != p.tokens.len() {
        bail!("unexpected {:?}", p.tokens[p.at]);
    }
    Ok(e)
}

/// Rules by action.
#[derive(Clone, Debug)]
pub struct Policy {
    rules: HashMap<String, Expr>,
}

impl Policy {
    /// The defaults, overridden by the rules file when there is one.
    pub fn new(defaults: &[(&str, &str)], file: Option<&Path>) -> anyhow::Result<Policy> {
        let mut rules = HashMap::new();
        for (action, rule) in defaults {
            rules.insert(
                action.to_string(),
                parse(rule).with_context(|| format!("default rule of {action}"))?,
            );
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read policy file {}", path.display()))?;
            let file: HashMap<String, String> = serde_json::from_str(&text)
                .with_context(|| format!("parse policy file {}", path.display()))?;
            for (action, rule) in file {
                let e = parse(&rule)
                    .with_context(|| format!("rule of {action} in {}", path.display()))?;
                rules.insert(action, e);
            }
        }
        Ok(Policy { rules })
    }

    /// Whether `caller` may do `action`; `owner` says whether the target is
    /// the caller's own. Unknown actions are denied.
    pub fn allows(&self, action: &str, caller: &Claims, owner: bool) -> bool {
        self.rules
            .get(action)
            .is_some_and(|e| self.eval(e, caller, owner, 0))
    }

    fn eval(&self, e: &Expr, caller: &Claims, owner: bool, depth: u32) -> bool {
        if depth > 16 {
            return false;
        }
        match e {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Role(r) => caller.has_role(r),
            Expr::Owner => owner,
            Expr::SystemScope => caller.system_scope,
            Expr::AdminProject => caller.is_admin_project,
            Expr::Rule(name) => self
                .rules
                .get(name)
                .is_some_and(|e| self.eval(e, caller, owner, depth + 1)),
            Expr::Not(inner) => !self.eval(inner, caller, owner, depth + 1),
            Expr::And(all) => all.iter().all(|e| self.eval(e, caller, owner, depth + 1)),
            Expr::Or(any) => any.iter().any(|e| self.eval(e, caller, owner, depth + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str]) -> Claims {
        Claims {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Claims::default()
        }
    }

    #[test]
    fn rules_combine_roles_and_ownership() {
        let p = Policy::new(
            &[
                ("reader", "role:admin or role:reader"),
                ("get", "rule:reader or owner"),
                ("write", "role:member and not role:reader"),
                ("nobody", "!"),
                ("anyone", "@"),
                ("grouped", "(role:a or role:b) and owner"),
            ],
            None,
        )
        .unwrap();
        let reader = caller(&["reader"]);
        let member = caller(&["member"]);
        assert!(p.allows("get", &reader, false));
        assert!(!p.allows("get", &member, false));
        assert!(p.allows("get", &member, true));
        assert!(p.allows("write", &member, false));
        assert!(!p.allows("write", &caller(&["member", "reader"]), false));
        assert!(!p.allows("nobody", &member, true));
        assert!(p.allows("anyone", &caller(&[]), false));
        assert!(p.allows("grouped", &caller(&["b"]), true));
        assert!(!p.allows("grouped", &caller(&["b"]), false));
        assert!(!p.allows("unknown", &member, true));
    }

    #[test]
    fn a_file_overrides_defaults_and_bad_rules_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        std::fs::write(&path, r#"{"list": "role:admin or role:member"}"#).unwrap();
        let p = Policy::new(&[("list", "role:admin")], Some(&path)).unwrap();
        assert!(p.allows("list", &caller(&["member"]), false));
        std::fs::write(&path, r#"{"list": "role:admin or"}"#).unwrap();
        assert!(Policy::new(&[], Some(&path)).is_err());
        std::fs::write(&path, r#"{"list": "roles:admin"}"#).unwrap();
        assert!(Policy::new(&[], Some(&path)).is_err());
        assert!(Policy::new(&[("x", "(role:a")], None).is_err());
    }
}

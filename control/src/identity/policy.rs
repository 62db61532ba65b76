//! Who may do what in identity: one table from action to rule (in
//! `common::policy`'s words), which a rules file may override.
//!
//! Roles: `admin` manages identity; `reader` reads everything in identity
//! and writes nothing; any user may read themselves, their own projects
//! and their own role assignments. As in Keystone's legacy policy, `admin`
//! on any project is the cloud administrator (there is no system scope yet).

use std::path::Path;
use std::sync::{Arc, RwLock};

use common::policy::Policy;
use common::token::Claims;

/// `admin` only.
const ADMIN: &str = "role:admin";
/// `admin` or `reader`.
const READER: &str = "role:admin or role:reader";
/// `admin` or `reader`, or the target is the caller (or the caller's project).
const READER_OR_OWNER: &str = "role:admin or role:reader or owner";
/// `admin`, or the target is the caller's own.
const ADMIN_OR_OWNER: &str = "role:admin or owner";
/// Only the caller's own (not even `admin` acts for someone else).
const OWNER: &str = "owner";

/// Every action identity checks, with its rule.
pub const RULES: &[(&str, &str)] = &[
    ("identity:list_domains", READER),
    ("identity:get_domain", READER_OR_OWNER),
    ("identity:create_domain", ADMIN),
    ("identity:list_projects", READER),
    ("identity:get_project", READER_OR_OWNER),
    ("identity:create_project", ADMIN),
    ("identity:update_project", ADMIN),
    ("identity:delete_project", ADMIN),
    ("identity:list_users", READER),
    ("identity:get_user", READER_OR_OWNER),
    ("identity:list_user_projects", READER_OR_OWNER),
    ("identity:create_user", ADMIN),
    ("identity:update_user", ADMIN),
    ("identity:delete_user", ADMIN),
    ("identity:list_roles", READER),
    ("identity:get_role", READER),
    ("identity:create_role", ADMIN),
    ("identity:delete_role", ADMIN),
    ("identity:list_grants", READER),
    ("identity:check_grant", READER),
    ("identity:create_grant", ADMIN),
    ("identity:revoke_grant", ADMIN),
    ("identity:list_role_assignments", READER_OR_OWNER),
    ("identity:list_regions", READER),
    ("identity:get_region", READER),
    ("identity:create_region", ADMIN),
    ("identity:delete_region", ADMIN),
    ("identity:list_services", READER),
    ("identity:get_service", READER),
    ("identity:create_service", ADMIN),
    ("identity:delete_service", ADMIN),
    ("identity:list_endpoints", READER),
    ("identity:get_endpoint", READER),
    ("identity:create_endpoint", ADMIN),
    ("identity:delete_endpoint", ADMIN),
    ("identity:validate_token", READER_OR_OWNER),
    ("identity:revoke_token", READER_OR_OWNER),
    ("identity:list_system_grants_for_user", READER_OR_OWNER),
    ("identity:check_system_grant_for_user", READER_OR_OWNER),
    ("identity:create_system_grant_for_user", ADMIN),
    ("identity:revoke_system_grant_for_user", ADMIN),
    ("identity:list_groups", READER),
    ("identity:get_group", READER),
    ("identity:create_group", ADMIN),
    ("identity:update_group", ADMIN),
    ("identity:delete_group", ADMIN),
    ("identity:list_users_in_group", READER),
    ("identity:check_user_in_group", READER),
    ("identity:add_user_to_group", ADMIN),
    ("identity:remove_user_from_group", ADMIN),
    ("identity:list_groups_for_user", READER_OR_OWNER),
    ("identity:ec2_create_credential", ADMIN_OR_OWNER),
    ("identity:ec2_list_credentials", READER_OR_OWNER),
    ("identity:ec2_get_credential", READER_OR_OWNER),
    ("identity:ec2_delete_credential", ADMIN_OR_OWNER),
    ("identity:list_credentials", READER_OR_OWNER),
    ("identity:get_credential", READER_OR_OWNER),
    ("identity:create_credential", ADMIN_OR_OWNER),
    ("identity:update_credential", ADMIN_OR_OWNER),
    ("identity:delete_credential", ADMIN_OR_OWNER),
    ("identity:create_application_credential", OWNER),
    ("identity:list_application_credentials", READER_OR_OWNER),
    ("identity:get_application_credential", READER_OR_OWNER),
    ("identity:delete_application_credential", ADMIN_OR_OWNER),
];

/// The rules in force: the defaults above, overridden by the rules file
/// given to `install`.
static POLICY: RwLock<Option<Arc<Policy>>> = RwLock::new(None);

fn defaults() -> Policy {
    Policy::new(RULES, None).expect("the default rules parse")
}

/// Installs the defaults overridden by a rules file (`[identity]
/// policy_file`, JSON `{"identity:action": "rule"}`).
pub fn install(file: Option<&Path>) -> anyhow::Result<()> {
    let policy = Policy::new(RULES, file)?;
    *POLICY.write().expect("policy lock never poisoned") = Some(Arc::new(policy));
    Ok(())
}

/// Whether `caller` may do `action`; `is_owner` says whether the target is
/// the caller's own (user, project or token). Unknown actions are denied.
pub fn allows(action: &str, caller: &Claims, is_owner: bool) -> bool {
    let current = POLICY.read().expect("policy lock never poisoned").clone();
    match current {
        Some(p) => p.allows(action, caller, is_owner),
        None => defaults().allows(action, caller, is_owner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str]) -> Claims {
        Claims {
            user_id: "u".into(),
            project_id: Some("p".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            methods: vec!["password".into()],
            issued_at_ms: 0,
            expires_at_ms: 1,
            audit_id: [0; 16],
            ..Claims::default()
        }
    }

    #[test]
    fn table() {
        let admin = caller(&["admin", "member"]);
        let reader = caller(&["reader"]);
        let member = caller(&["member"]);
        let none = caller(&[]);
        let cases = [
            ("identity:create_project", &admin, false, true),
            ("identity:create_project", &reader, false, false),
            ("identity:create_project", &member, false, false),
            ("identity:delete_user", &member, true, false),
            ("identity:create_grant", &reader, false, false),
            ("identity:list_users", &reader, false, true),
            ("identity:list_users", &member, false, false),
            ("identity:get_user", &member, false, false),
            ("identity:get_user", &none, true, true),
            ("identity:get_project", &member, true, true),
            ("identity:list_role_assignments", &member, true, true),
            ("identity:list_role_assignments", &member, false, false),
            ("identity:no_such_action", &admin, true, false),
            ("identity:ec2_create_credential", &member, true, true),
            ("identity:ec2_create_credential", &reader, false, false),
            ("identity:ec2_delete_credential", &admin, false, true),
            (
                "identity:create_application_credential",
                &admin,
                false,
                false,
            ),
            (
                "identity:create_application_credential",
                &member,
                true,
                true,
            ),
        ];
        for (action, who, owner, want) in cases {
            assert_eq!(
                allows(action, who, owner),
                want,
                "{action} by {:?} (owner {owner})",
                who.roles
            );
        }
    }

    #[test]
    fn every_rule_names_an_identity_action_once() {
        for (i, (a, _)) in RULES.iter().enumerate() {
            assert!(a.starts_with("identity:"), "{a}");
            assert!(!RULES[..i].iter().any(|(b, _)| a == b), "{a} twice");
        }
    }
}

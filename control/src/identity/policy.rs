//! Who may do what in identity: one table from action to rule.
//!
//! Roles: `admin` manages identity; `reader` reads everything in identity
//! and writes nothing; any user may read themselves, their own projects
//! and their own role assignments. As in Keystone's legacy policy, `admin`
//! on any project is the cloud administrator (there is no system scope yet).

use common::token::Claims;

/// The condition an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The `admin` role.
    Admin,
    /// `admin` or `reader`.
    Reader,
    /// `admin` or `reader`, or the target is the caller (or the caller's project).
    ReaderOrOwner,
    /// `admin`, or the target is the caller's own.
    AdminOrOwner,
    /// Only the caller's own (not even `admin` acts for someone else).
    Owner,
}

/// Every action identity checks, with its rule.
pub const RULES: &[(&str, Rule)] = &[
    ("identity:list_domains", Rule::Reader),
    ("identity:get_domain", Rule::ReaderOrOwner),
    ("identity:create_domain", Rule::Admin),
    ("identity:list_projects", Rule::Reader),
    ("identity:get_project", Rule::ReaderOrOwner),
    ("identity:create_project", Rule::Admin),
    ("identity:update_project", Rule::Admin),
    ("identity:delete_project", Rule::Admin),
    ("identity:list_users", Rule::Reader),
    ("identity:get_user", Rule::ReaderOrOwner),
    ("identity:list_user_projects", Rule::ReaderOrOwner),
    ("identity:create_user", Rule::Admin),
    ("identity:update_user", Rule::Admin),
    ("identity:delete_user", Rule::Admin),
    ("identity:list_roles", Rule::Reader),
    ("identity:get_role", Rule::Reader),
    ("identity:create_role", Rule::Admin),
    ("identity:delete_role", Rule::Admin),
    ("identity:list_grants", Rule::Reader),
    ("identity:check_grant", Rule::Reader),
    ("identity:create_grant", Rule::Admin),
    ("identity:revoke_grant", Rule::Admin),
    ("identity:list_role_assignments", Rule::ReaderOrOwner),
    ("identity:list_regions", Rule::Reader),
    ("identity:get_region", Rule::Reader),
    ("identity:create_region", Rule::Admin),
    ("identity:delete_region", Rule::Admin),
    ("identity:list_services", Rule::Reader),
    ("identity:get_service", Rule::Reader),
    ("identity:create_service", Rule::Admin),
    ("identity:delete_service", Rule::Admin),
    ("identity:list_endpoints", Rule::Reader),
    ("identity:get_endpoint", Rule::Reader),
    ("identity:create_endpoint", Rule::Admin),
    ("identity:delete_endpoint", Rule::Admin),
    ("identity:validate_token", Rule::ReaderOrOwner),
    ("identity:revoke_token", Rule::ReaderOrOwner),
    ("identity:list_system_grants_for_user", Rule::ReaderOrOwner),
    ("identity:check_system_grant_for_user", Rule::ReaderOrOwner),
    ("identity:create_system_grant_for_user", Rule::Admin),
    ("identity:revoke_system_grant_for_user", Rule::Admin),
    ("identity:list_groups", Rule::Reader),
    ("identity:get_group", Rule::Reader),
    ("identity:create_group", Rule::Admin),
    ("identity:update_group", Rule::Admin),
    ("identity:delete_group", Rule::Admin),
    ("identity:list_users_in_group", Rule::Reader),
    ("identity:check_user_in_group", Rule::Reader),
    ("identity:add_user_to_group", Rule::Admin),
    ("identity:remove_user_from_group", Rule::Admin),
    ("identity:list_groups_for_user", Rule::ReaderOrOwner),
    ("identity:ec2_create_credential", Rule::AdminOrOwner),
    ("identity:ec2_list_credentials", Rule::ReaderOrOwner),
    ("identity:ec2_get_credential", Rule::ReaderOrOwner),
    ("identity:ec2_delete_credential", Rule::AdminOrOwner),
    ("identity:list_credentials", Rule::ReaderOrOwner),
    ("identity:get_credential", Rule::ReaderOrOwner),
    ("identity:create_credential", Rule::AdminOrOwner),
    ("identity:update_credential", Rule::AdminOrOwner),
    ("identity:delete_credential", Rule::AdminOrOwner),
    ("identity:create_application_credential", Rule::Owner),
    ("identity:list_application_credentials", Rule::ReaderOrOwner),
    ("identity:get_application_credential", Rule::ReaderOrOwner),
    ("identity:delete_application_credential", Rule::AdminOrOwner),
];

/// Whether `caller` may do `action`; `is_owner` says whether the target is
/// the caller's own (user, project or token). Unknown actions are denied.
pub fn allows(action: &str, caller: &Claims, is_owner: bool) -> bool {
    let admin = caller.has_role("admin");
    let reader = admin || caller.has_role("reader");
    match RULES.iter().find(|(a, _)| *a == action).map(|(_, r)| *r) {
        Some(Rule::Admin) => admin,
        Some(Rule::Reader) => reader,
        Some(Rule::ReaderOrOwner) => reader || is_owner,
        Some(Rule::AdminOrOwner) => admin || is_owner,
        Some(Rule::Owner) => is_owner,
        None => false,
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

//! Names people give: the rules the daemon applies and the CLI checks before asking it, so a
//! bad name is refused with the same message on both sides.

/// An organization name as the user gives it: trimmed, 1 to 128 characters, no control
/// characters (it is shown to every member). Returns the trimmed name.
pub fn check_org_name(name: &str) -> Result<String, &'static str> {
    let n = name.trim();
    if n.is_empty() {
        return Err("the organization name is empty");
    }
    if n.chars().count() > 128 {
        return Err("an organization name is at most 128 characters");
    }
    if n.chars().any(char::is_control) {
        return Err("an organization name cannot contain control characters (newlines, escapes)");
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::check_org_name;

    #[test]
    fn org_names() {
        assert_eq!(check_org_name("  Acme Water  ").unwrap(), "Acme Water");
        assert!(check_org_name(" ").is_err());
        assert!(check_org_name("a\nb").is_err());
        assert!(check_org_name(&"x".repeat(129)).is_err());
        assert!(check_org_name(&"é".repeat(128)).is_ok());
    }
}

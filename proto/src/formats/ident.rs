//! Package identities: package URLs (purl), CPE names, and OSV ecosystems. Matching compares
//! packages by the parts that name them (purl type, namespace and name; CPE vendor and product)
//! and never by the parts that qualify them (version, qualifiers, subpath), so this module owns
//! that split and the per-type name normalization the purl specification prescribes.

/// A parsed package URL, `pkg:type/namespace/name@version?qualifiers#subpath`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purl {
    /// Lower-case type (`npm`, `pypi`, `golang`, ...).
    pub kind: String,
    /// Namespace segments joined by `/`, percent-decoded; empty when there is none.
    pub namespace: String,
    pub name: String,
    pub version: Option<String>,
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Purl {
    /// Parse a package URL; `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.trim().strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split('#').next().unwrap_or("");
        let rest = rest.split('?').next().unwrap_or("");
        let (path, version) = match rest.rfind('@') {
            // An '@' inside the path is a percent-encoded scope; the version's '@' is the last
            // one after the final '/'.
            Some(at) if !rest[at..].contains('/') => (&rest[..at], Some(pct_decode(&rest[at + 1..]))),
            _ => (rest, None),
        };
        let (kind, path) = path.split_once('/')?;
        let mut segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(pct_decode).collect();
        let name = segs.pop()?;
        let kind = kind.to_ascii_lowercase();
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let mut p = Purl { kind, namespace: segs.join("/"), name, version: version.filter(|v| !v.is_empty()) };
        p.normalize();
        Some(p)
    }

    /// Check a package URL a user typed against the purl grammar — scheme, type, namespace,
    /// name, qualifiers, subpath and the per-type rules, with the `packageurl` library — and
    /// return it parsed. Stricter than [`Purl::parse`], which reads what others published:
    /// whitespace, control characters and malformed `%` escapes are refused, and a version is
    /// refused too (the version range follows the purl, after `@`). The error says what is wrong.
    pub fn parse_strict(text: &str) -> Result<Purl, String> {
        if text.len() > 1024 {
            return Err("a package URL is at most 1024 characters".into());
        }
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{text:?} contains {c:?}: a package URL has no spaces or control characters (write a space as %20)"
            ));
        }
        let b = text.as_bytes();
        for (i, _) in text.match_indices('%') {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return Err(format!(
                    "{text:?} has a malformed % escape at byte {i}: % must be followed by two hex digits"
                ));
            }
        }
        let checked: packageurl::PackageUrl<'static> =
            text.parse().map_err(|e: packageurl::Error| format!("{text:?} is not a package URL: {e}"))?;
        if checked.version().is_some() {
            return Err(format!(
                "{text:?} carries a version; give the affected versions as a range after the package URL"
            ));
        }
        Purl::parse(text).ok_or_else(|| format!("{text:?} is not a package URL (pkg:TYPE/NAMESPACE/NAME)"))
    }

    /// Apply the purl specification's per-type rules so equal packages compare equal.
    fn normalize(&mut self) {
        match self.kind.as_str() {
            // PEP 503: case-insensitive, runs of `-`, `_`, `.` are one `-`.
            "pypi" => self.name = pypi_normalize(&self.name),
            "npm" | "github" | "bitbucket" | "composer" | "deb" | "apk" | "rpm" => {
                if self.kind != "rpm" {
                    self.name = self.name.to_ascii_lowercase();
                }
                self.namespace = self.namespace.to_ascii_lowercase();
            }
            "golang" => {
                // Go module paths are case-sensitive but the purl spec lowercases; compare
                // lowercased so both spellings meet.
                self.namespace = self.namespace.to_ascii_lowercase();
                self.name = self.name.to_ascii_lowercase();
            }
            _ => {}
        }
    }

    /// The identity without version: `pkg:type/namespace/name`.
    pub fn base(&self) -> String {
        let ns =
            if self.namespace.is_empty() { String::new() } else { format!("{}/", self.namespace.replace('@', "%40")) };
        format!("pkg:{}/{ns}{}", self.kind, self.name.replace('@', "%40"))
    }

    /// Whether both name the same package (version and qualifiers ignored).
    pub fn same_package(&self, other: &Purl) -> bool {
        self.kind == other.kind && self.namespace == other.namespace && self.name == other.name
    }
}

/// PEP 503 name normalization.
pub fn pypi_normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The purl type for an OSV ecosystem (`Go`, `npm`, `PyPI`, `crates.io`, `Debian:11`, ...).
pub fn purl_type_for_ecosystem(ecosystem: &str) -> Option<&'static str> {
    let base = ecosystem.split(':').next().unwrap_or("").trim();
    Some(match base {
        "Go" => "golang",
        "npm" => "npm",
        "PyPI" => "pypi",
        "crates.io" => "cargo",
        "Maven" => "maven",
        "RubyGems" => "gem",
        "NuGet" => "nuget",
        "Packagist" => "composer",
        "Hex" => "hex",
        "Pub" => "pub",
        "Debian" => "deb",
        "Ubuntu" => "deb",
        "Alpine" => "apk",
        "CRAN" => "cran",
        "SwiftURL" => "swift",
        "GitHub Actions" => "github",
        _ => return None,
    })
}

/// The OSV ecosystem for a purl type (the inverse of [`purl_type_for_ecosystem`]).
pub fn ecosystem_for_purl_type(kind: &str, namespace: &str) -> Option<&'static str> {
    Some(match kind {
        "golang" => "Go",
        "npm" => "npm",
        "pypi" => "PyPI",
        "cargo" => "crates.io",
        "maven" => "Maven",
        "gem" => "RubyGems",
        "nuget" => "NuGet",
        "composer" => "Packagist",
        "hex" => "Hex",
        "pub" => "Pub",
        "deb" if namespace == "ubuntu" => "Ubuntu",
        "deb" => "Debian",
        "apk" => "Alpine",
        "cran" => "CRAN",
        _ => return None,
    })
}

/// Build the purl of an OSV `package` from its ecosystem and name, for records that carry none.
pub fn purl_from_ecosystem(ecosystem: &str, name: &str) -> Option<String> {
    let kind = purl_type_for_ecosystem(ecosystem)?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(match kind {
        "pypi" => format!("pkg:pypi/{}", pypi_normalize(name)),
        "maven" => {
            let (group, artifact) = name.split_once(':')?;
            format!("pkg:maven/{group}/{artifact}")
        }
        "npm" => format!("pkg:npm/{}", name.replace('@', "%40")),
        "deb" => {
            let distro = if ecosystem.starts_with("Ubuntu") { "ubuntu" } else { "debian" };
            format!("pkg:deb/{distro}/{name}")
        }
        "apk" => format!("pkg:apk/alpine/{name}"),
        _ => format!("pkg:{kind}/{name}"),
    })
}

/// The OSV package name for a purl (Maven joins group and artifact with `:`).
pub fn osv_name_for_purl(p: &Purl) -> String {
    match p.kind.as_str() {
        "maven" if !p.namespace.is_empty() => format!("{}:{}", p.namespace, p.name),
        "deb" | "apk" => p.name.clone(),
        _ if p.namespace.is_empty() => p.name.clone(),
        _ => format!("{}/{}", p.namespace, p.name),
    }
}

/// The naming parts of a CPE 2.2 URI (`cpe:/a:vendor:product:version`) or 2.3 formatted string
/// (`cpe:2.3:a:vendor:product:version:...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpe {
    pub part: String,
    pub vendor: String,
    pub product: String,
    /// `None` for `*`, `-` or an absent version.
    pub version: Option<String>,
}

impl Cpe {
    pub fn parse(text: &str) -> Option<Cpe> {
        let t = text.trim();
        // Split first, on the separators only, then unescape each field: `foo\:bar` is one
        // field `foo:bar` in a 2.3 string; a 2.2 URI percent-encodes instead (`foo%3abar`).
        let fields: Vec<String> = if let Some(r) = t.strip_prefix("cpe:2.3:") {
            split_formatted(r)
        } else if let Some(r) = t.strip_prefix("cpe:/") {
            r.split(':').map(percent_decode).collect()
        } else {
            return None;
        };
        let get = |i: usize| fields.get(i).map(|s| s.to_ascii_lowercase());
        let (part, vendor, product) = (get(0)?, get(1)?, get(2)?);
        if vendor.is_empty() || product.is_empty() {
            return None;
        }
        let version = get(3).filter(|v| !v.is_empty() && v != "*" && v != "-");
        Some(Cpe { part, vendor, product, version })
    }

    /// The same product with any version: a CPE 2.3 string with `*` from the version on.
    pub fn without_version(&self) -> String {
        format!("cpe:2.3:{}:{}:{}:*:*:*:*:*:*:*:*", escape(&self.part), escape(&self.vendor), escape(&self.product))
    }

    pub fn same_product(&self, other: &Cpe) -> bool {
        self.vendor == other.vendor && self.product == other.product
    }
}

/// The fields of a CPE 2.3 formatted string after `cpe:2.3:`, split on unescaped `:` and each
/// unescaped (`\\x` is `x`).
fn split_formatted(r: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = r.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut().expect("never empty").push(next);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// A CPE 2.2 URI component with its `%XX` escapes decoded (invalid escapes kept as written).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Escape a field for a CPE 2.3 formatted string: every character other than letters, digits,
/// `_`, `-` and `.` gets a backslash (`*` and `?` too, since here they are literal).
fn escape(field: &str) -> String {
    if field == "*" || field == "-" {
        return field.to_string(); // the logical values ANY and NA
    }
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strict_parse_refuses_what_the_grammar_refuses() {
        assert_eq!(Purl::parse_strict("pkg:npm/lodash").unwrap().name, "lodash");
        assert_eq!(Purl::parse_strict("pkg:npm/%40angular/core").unwrap().namespace, "@angular");
        assert!(Purl::parse_strict("pkg:maven/org.apache.logging.log4j/log4j-core").is_ok());
        for bad in
            ["pkg:/", "pkg:npm/", "pkg:npm/a%zz", "pkg:npm/my package", "pkg:npm/x@1.0", "npm/x", "pkg:npm/a\u{1b}b"]
        {
            assert!(Purl::parse_strict(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn purl_parts_and_normalization() {
        let p = Purl::parse("pkg:npm/%40angular/core@12.0.0?x=1#sub").unwrap();
        assert_eq!((p.kind.as_str(), p.namespace.as_str()), ("npm", "@angular"));
        assert_eq!((p.name.as_str(), p.version.as_deref()), ("core", Some("12.0.0")));
        assert_eq!(p.base(), "pkg:npm/%40angular/core");
        let g = Purl::parse("pkg:golang/github.com/gorilla/websocket@v1.4.0").unwrap();
        assert_eq!(g.namespace, "github.com/gorilla");
        assert_eq!(g.version.as_deref(), Some("v1.4.0"));
        let a = Purl::parse("pkg:pypi/Django_Rest.Framework@3.0").unwrap();
        let b = Purl::parse("pkg:PYPI/django-rest-framework").unwrap();
        assert!(a.same_package(&b));
        assert!(Purl::parse("npm/foo").is_none());
        assert!(Purl::parse("pkg:npm").is_none());
        let m = Purl::parse("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1").unwrap();
        assert_eq!(osv_name_for_purl(&m), "org.apache.logging.log4j:log4j-core");
    }

    #[test]
    fn purls_from_osv_ecosystems() {
        let cases = [
            ("Go", "github.com/gorilla/websocket", "pkg:golang/github.com/gorilla/websocket"),
            ("npm", "@babel/core", "pkg:npm/%40babel/core"),
            ("PyPI", "Django_Foo", "pkg:pypi/django-foo"),
            ("crates.io", "smallvec", "pkg:cargo/smallvec"),
            ("Maven", "org.example:lib", "pkg:maven/org.example/lib"),
            ("RubyGems", "rails", "pkg:gem/rails"),
            ("Debian:11", "openssl", "pkg:deb/debian/openssl"),
        ];
        for (eco, name, want) in cases {
            let got = purl_from_ecosystem(eco, name).unwrap();
            assert_eq!(got, want);
            let p = Purl::parse(&got).unwrap();
            assert_eq!(ecosystem_for_purl_type(&p.kind, &p.namespace), Some(eco.split(':').next().unwrap()));
        }
        assert_eq!(purl_from_ecosystem("Maven", "no-colon"), None);
        assert_eq!(purl_from_ecosystem("Unknown", "x"), None);
    }

    #[test]
    fn cpe_forms() {
        let a = Cpe::parse("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha").unwrap();
        assert_eq!(a.vendor, "csaf-tools");
        assert_eq!(a.version.as_deref(), Some("1.0.0-alpha"));
        let b = Cpe::parse("cpe:2.3:a:CSAF-Tools:CVRF-CSAF-Converter:*:*:*:*:*:*:*:*").unwrap();
        assert!(a.same_product(&b));
        assert_eq!(b.version, None);
        assert_eq!(a.without_version(), "cpe:2.3:a:csaf-tools:cvrf-csaf-converter:*:*:*:*:*:*:*:*");
        assert!(Cpe::parse("cpe:/a").is_none());
        assert!(Cpe::parse("pkg:npm/x").is_none());
    }

    #[test]
    fn cpe_escapes_are_undone_after_splitting() {
        // `\:` is a colon inside the vendor, not a separator.
        let c = Cpe::parse(r"cpe:2.3:a:foo\:bar:baz:1.0\.2:*:*:*:*:*:*:*").unwrap();
        assert_eq!((c.vendor.as_str(), c.product.as_str()), ("foo:bar", "baz"));
        assert_eq!(c.version.as_deref(), Some("1.0.2"));
        // Written back escaped, it parses to the same parts.
        let again = Cpe::parse(&c.without_version()).unwrap();
        assert_eq!((again.vendor.as_str(), again.product.as_str()), ("foo:bar", "baz"));
        let u = Cpe::parse("cpe:/a:foo%3abar:baz:2.0").unwrap();
        assert_eq!((u.vendor.as_str(), u.version.as_deref()), ("foo:bar", Some("2.0")));
        // A trailing lone backslash is dropped, not a panic.
        assert!(Cpe::parse("cpe:2.3:a:v:p\\").is_some());
    }
}

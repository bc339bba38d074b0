//! Physical names, generated as CloudFormation generates them.
//!
//! CloudFormation names a resource that has no custom name `<stack>-<logicalId>-<random>`
//! (CFN `aws-properties-name`: "stack123-s3bucket-abcdefghijk1"), truncating the stack name and
//! the logical ID so that the whole fits the type's limit, with a 12-character random suffix of
//! uppercase letters and digits (lowercase for S3 buckets, whose names must be lowercase).
//! Slipway's suffix is not random but derived from the stack, the logical ID and a salt (the
//! replacement count), so the same deployment always produces the same names and a replacement
//! always gets a new one.

use slipway_model::template::hash::sha256_hex;

use crate::replacement;

const SUFFIX_LEN: usize = 12;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The 12-character suffix for `(stack, logical_id, salt)`.
pub fn suffix(stack: &str, logical_id: &str, salt: u32) -> String {
    let digest = sha256_hex(format!("{stack}\u{0}{logical_id}\u{0}{salt}").as_bytes());
    // Two hex digits per character: 0..=255 mod 36 (the bias does not matter for names).
    digest
        .as_bytes()
        .chunks(2)
        .take(SUFFIX_LEN)
        .map(|pair| {
            let n = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0);
            ALPHABET[usize::from(n) % ALPHABET.len()] as char
        })
        .collect()
}

/// The physical name CloudFormation would generate for a resource of `resource_type`.
pub fn physical_name(stack: &str, logical_id: &str, resource_type: &str, salt: u32) -> String {
    let (max, lowercase) = replacement::rules(resource_type)
        .map(|r| (r.name_max, r.lowercase))
        .unwrap_or((255, false));
    generate(stack, logical_id, salt, max, lowercase)
}

fn generate(stack: &str, logical_id: &str, salt: u32, max: usize, lowercase: bool) -> String {
    let sfx = suffix(stack, logical_id, salt);
    // Room for the two dashes and the suffix; the rest split between stack and logical ID,
    // the stack name keeping at most half (as CloudFormation's truncated names show).
    let room = max.saturating_sub(SUFFIX_LEN + 2);
    let (mut s, mut l) = (stack.len(), logical_id.len());
    while s + l > room {
        if s >= l && s > 0 {
            s -= 1;
        } else if l > 0 {
            l -= 1;
        } else {
            break;
        }
    }
    let name = format!("{}-{}-{}", prefix(stack, s), prefix(logical_id, l), sfx);
    if lowercase {
        name.to_ascii_lowercase()
    } else {
        name
    }
}

fn prefix(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_determinism() {
        let a = physical_name("mystack", "HelloFunction", "AWS::Lambda::Function", 0);
        assert_eq!(
            a,
            physical_name("mystack", "HelloFunction", "AWS::Lambda::Function", 0)
        );
        let (head, sfx) = a.rsplit_once('-').unwrap_or_default();
        assert_eq!(head, "mystack-HelloFunction");
        assert_eq!(sfx.len(), 12);
        assert!(
            sfx.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        let b = physical_name("mystack", "HelloFunction", "AWS::Lambda::Function", 1);
        assert_ne!(a, b, "a replacement gets a new name");
        assert_ne!(
            a,
            physical_name("other", "HelloFunction", "AWS::Lambda::Function", 0)
        );
    }

    #[test]
    fn buckets_are_lowercase_and_names_fit() {
        let n = physical_name("Stack123", "S3Bucket", "AWS::S3::Bucket", 0);
        assert!(n.starts_with("stack123-s3bucket-"), "{n}");
        assert_eq!(n, n.to_ascii_lowercase());
        let long_stack = "s".repeat(100);
        let long_id = "L".repeat(100);
        let f = physical_name(&long_stack, &long_id, "AWS::Lambda::Function", 0);
        assert_eq!(f.len(), 64);
        let b = physical_name(&long_stack, &long_id, "AWS::S3::Bucket", 0);
        assert_eq!(b.len(), 63);
    }
}

//! The current git repository: image tags that are commit SHAs get their commit subject, and
//! `deploy` tags images with the short SHA of HEAD. No git, or not a repository: no commit info.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// The short SHA git prints for it.
    pub sha: String,
    pub subject: String,
}

#[derive(Debug, Default)]
pub struct Git {
    dir: Option<PathBuf>,
    cache: RefCell<BTreeMap<String, Option<Commit>>>,
}

/// Whether an image tag looks like a git commit SHA (7 to 64 hex digits).
pub fn is_sha_like(tag: &str) -> bool {
    (7..=64).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Git {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Git {
            dir,
            cache: RefCell::default(),
        }
    }

    fn run(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("git");
        if let Some(dir) = &self.dir {
            cmd.arg("-C").arg(dir);
        }
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// The short SHA of HEAD.
    pub fn head_short_sha(&self) -> Option<String> {
        self.run(&["rev-parse", "--short", "HEAD"])
            .filter(|s| is_sha_like(s))
    }

    /// Whether tracked files have uncommitted changes (`None`: not a repository, or no git).
    pub fn dirty(&self) -> Option<bool> {
        self.run(&["status", "--porcelain", "--untracked-files=no"])
            .map(|out| !out.trim().is_empty())
    }

    /// The commit an image tag names, when the tag is a SHA of this repository.
    pub fn commit(&self, tag: &str) -> Option<Commit> {
        if !is_sha_like(tag) {
            return None;
        }
        if let Some(hit) = self.cache.borrow().get(tag) {
            return hit.clone();
        }
        let rev = format!("{tag}^{{commit}}");
        let found = self
            .run(&["show", "-s", "--format=%h%x09%s", &rev, "--"])
            .and_then(|line| {
                let (sha, subject) = line.lines().next()?.split_once('\t')?;
                Some(Commit {
                    sha: sha.to_string(),
                    subject: subject.to_string(),
                })
            });
        self.cache
            .borrow_mut()
            .insert(tag.to_string(), found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_tags_of_sha_length_are_looked_up() {
        for (tag, want) in [
            ("4f2a9c1", true),
            ("4F2A9C1E", true),
            ("latest", false),
            ("1.4.2", false),
            ("abc", false),
            ("4f2a9c1-dirty", false),
        ] {
            assert_eq!(is_sha_like(tag), want, "{tag}");
        }
        let git = Git::new(Some(
            std::env::temp_dir().join("surely-not-a-repo-ecs-rollback"),
        ));
        assert_eq!(git.commit("latest"), None);
        assert_eq!(git.commit("4f2a9c1"), None, "no repository: no commit");
    }
}

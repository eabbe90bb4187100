//! Which engine process runs a run: `HOST:PID:STARTTIME`, where STARTTIME is the 22nd field
//! of `/proc/PID/stat` (the process's start time in clock ticks after boot). Together with
//! the pid it tells a live process from a later one that got the same pid.

use std::io::ErrorKind;
use std::sync::OnceLock;

/// The owner string of this process, to put in [`super::RunRecord::owner`].
pub fn owner_of_this_process() -> String {
    let pid = std::process::id();
    let start = read_start_time("self").unwrap_or(0);
    format!("{}:{pid}:{start}", hostname())
}

/// Whether the process an owner string names still runs. Where it cannot tell, it answers
/// `true`, so that a live run is never taken for an orphan:
/// - the owner ran on another host (two hosts sharing one PostgreSQL database);
/// - this system has no `/proc` (not Linux);
/// - the owner is not of the form `HOST:PID:STARTTIME`.
///
/// On this host it is alive iff `/proc/PID/stat` exists and its start time is STARTTIME.
pub fn owner_is_alive(owner: &str) -> bool {
    let Some((host, pid, start)) = parse_owner(owner) else {
        return true;
    };
    if host != hostname() || read_start_time("self").is_none() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => start_time_of(&stat) == Some(start),
        Err(error) if error.kind() == ErrorKind::NotFound => false,
        // ESRCH while the process exits, and the like: it is gone.
        Err(error) if error.raw_os_error() == Some(3) => false,
        Err(_) => true,
    }
}

/// `HOST:PID:STARTTIME` → its parts. A host name has no `:`, but the split is from the
/// right all the same.
fn parse_owner(owner: &str) -> Option<(&str, u32, u64)> {
    let mut parts = owner.rsplitn(3, ':');
    let start = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    let host = parts.next()?;
    Some((host, pid, start))
}

/// This machine's host name, from `/proc/sys/kernel/hostname` or `/etc/hostname`
/// (`localhost` when neither says).
fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|text| text.trim().to_owned())
            .find(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}

/// The start time of `/proc/<pid>/stat` (`pid` may be `self`).
fn read_start_time(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_of(&stat)
}

/// Field 22 of a `/proc/PID/stat` line. Field 2, the command name in parentheses, may hold
/// spaces and parentheses itself, so fields are counted from the last `)`.
fn start_time_of(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // after_name starts with field 3 (state), so field 22 is the 20th from here.
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_counted_from_the_last_parenthesis() {
        let stat = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 \
                    20 21";
        assert_eq!(start_time_of(stat), Some(987654));
        assert_eq!(start_time_of("1234 (short) S 1"), None);
    }

    #[test]
    fn owners_parse_from_the_right() {
        assert_eq!(parse_owner("host:12:345"), Some(("host", 12, 345)));
        assert_eq!(parse_owner("host:x:345"), None);
        assert_eq!(parse_owner("345"), None);
    }

    #[test]
    fn a_malformed_owner_counts_as_alive() {
        assert!(owner_is_alive("not an owner"));
    }

    #[test]
    fn another_host_counts_as_alive() {
        assert!(owner_is_alive("surely-not-this-host.invalid:1:1"));
    }
}

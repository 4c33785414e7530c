//! What every benchmark binary shares: the sample type, its JSON line, percentiles and the
//! median round.

/// One measured system on one workload.
#[derive(Debug)]
pub struct Sample {
    pub workload: &'static str,
    pub system: &'static str,
    pub per_sec: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub rss_mb: Option<f64>,
}

impl Sample {
    /// The sample as one JSON line, with `extra` fields after the common ones.
    pub fn json_with(&self, extra: &[(&str, f64)]) -> String {
        let mut line = self.json();
        line.pop();
        for (name, value) in extra {
            line.push_str(&format!(r#","{name}":{value:.4}"#));
        }
        line.push('}');
        line
    }

    /// The sample as one JSON line.
    pub fn json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "null".to_owned(), |v| format!("{v:.3}"));
        format!(
            r#"{{"workload":"{}","system":"{}","per_sec":{:.0},"p50_us":{},"p99_us":{},"rss_mb":{}}}"#,
            self.workload,
            self.system,
            self.per_sec,
            opt(self.p50_us),
            opt(self.p99_us),
            opt(self.rss_mb)
        )
    }
}

/// Latencies in nanoseconds, summarised.
#[allow(dead_code, reason = "not every benchmark binary reports latencies")]
pub fn percentiles(mut nanos: Vec<u64>) -> (Option<f64>, Option<f64>) {
    if nanos.is_empty() {
        return (None, None);
    }
    nanos.sort_unstable();
    let at = |q: f64| {
        let index = ((nanos.len() - 1) as f64 * q).round() as usize;
        nanos[index] as f64 / 1_000.0
    };
    (Some(at(0.50)), Some(at(0.99)))
}

/// The median round by throughput; `None` if the workload was not run.
#[allow(dead_code, reason = "the peers benchmark keeps every run for its range")]
pub fn median(mut rounds: Vec<Sample>) -> Option<Sample> {
    if rounds.is_empty() {
        return None;
    }
    rounds.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
    let mid = rounds.len() / 2;
    Some(rounds.swap_remove(mid))
}

/// Appends `section` to the file that follows `--markdown-append` in `args`, if there is one.
#[allow(dead_code, reason = "the core benchmark writes its file whole")]
pub fn append_markdown(args: &[String], section: &str) {
    if let Some(i) = args.iter().position(|a| a == "--markdown-append")
        && let Some(path) = args.get(i + 1)
    {
        let mut md = std::fs::read_to_string(path).unwrap_or_default();
        md.push_str(section);
        std::fs::write(path, md).expect("append to the markdown table");
    }
}

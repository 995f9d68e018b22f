use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use pulso_core::decode::{decode_event, ValidationConfig};

use super::*;

/// Returns the path of the REES46 sample, which lies next to the repository and is not
/// committed because its licence is unclear, or `None` when it is absent.
fn rees46_sample() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/rees46-ecommerce-2019oct-sample/events_2019-10-01_head.csv");
    if path.exists() {
        Some(path)
    } else {
        println!("SKIPPED: REES46 sample not found at {}", path.display());
        None
    }
}

fn read_rees46(path: &Path) -> Vec<ReplayEvent> {
    let mut source = Source::open(path, Format::Rees46).unwrap();
    let mut events = Vec::new();
    while let Some(event) = source.next_event().unwrap() {
        events.push(event);
    }
    events
}

#[test]
fn speed_parsed() {
    assert_eq!(parse_speed("max"), Ok(Speed::Max));
    assert_eq!(parse_speed("10"), Ok(Speed::Factor(10.0)));
    assert_eq!(parse_speed("0.5"), Ok(Speed::Factor(0.5)));
    for bad in ["0", "-1", "fast", "inf"] {
        assert!(parse_speed(bad).unwrap_err().contains("max"), "{bad}");
    }
}

#[test]
fn format_from_extension_or_content() {
    assert_eq!(resolve_format(Path::new("x.CSV"), Format::Auto).unwrap(), Format::Rees46);
    assert_eq!(resolve_format(Path::new("x.jsonl"), Format::Auto).unwrap(), Format::Otto);
    assert_eq!(resolve_format(Path::new("x.csv"), Format::Otto).unwrap(), Format::Otto);
    assert_eq!(sniff_format("{\"session\":1}").unwrap(), Format::Otto);
    assert_eq!(sniff_format("event_time,event_type\n").unwrap(), Format::Rees46);
    assert!(sniff_format("hello").is_err());
}

#[test]
fn unknown_extension_sniffed() {
    let path = std::env::temp_dir().join(format!("pulso-replay-sniff-{}", std::process::id()));
    std::fs::write(&path, "{\"session\":1,\"events\":[]}\n").unwrap();
    assert_eq!(resolve_format(&path, Format::Auto).unwrap(), Format::Otto);
    std::fs::write(&path, "nothing\n").unwrap();
    let error = format!("{:#}", resolve_format(&path, Format::Auto).unwrap_err());
    assert!(error.contains("--format"), "{error}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn missing_file_named() {
    let error = format!("{:#}", Source::open(Path::new("/nonexistent/events.csv"), Format::Rees46).err().unwrap());
    assert!(error.contains("/nonexistent/events.csv"), "{error}");
}

#[test]
fn shift_step_is_whole_minutes_and_windows() {
    assert_eq!(shift_step_ms(60_000), 60_000);
    assert_eq!(shift_step_ms(30_000), 60_000);
    assert_eq!(shift_step_ms(300_000), 300_000);
    assert_eq!(shift_step_ms(90_000), 180_000);
}

#[test]
fn shift_to_now_keeps_minute_alignment() {
    let first_ms = 1_569_888_005_250; // 2019-10-01T00:00:05.250Z
    let now_ms = 1_714_575_637_000; // 2024-05-01T15:00:37Z
    let shift = shift_to_now_ms(first_ms, now_ms, 60_000);
    assert_eq!(shift % 60_000, 0);
    let shifted = first_ms + shift;
    assert_eq!(shifted.rem_euclid(60_000), first_ms.rem_euclid(60_000));
    assert_eq!(shifted - shifted.rem_euclid(60_000), now_ms - now_ms.rem_euclid(60_000));
}

#[test]
fn shift_to_now_keeps_window_alignment() {
    let step = shift_step_ms(300_000);
    for first_ms in [1_569_888_005_250, 1_569_888_299_999, 1_569_888_300_000] {
        let shift = shift_to_now_ms(first_ms, 1_714_575_637_000, step);
        assert_eq!(shift % 300_000, 0, "first {first_ms}");
    }
}

#[test]
fn pacer_waits_for_event_time_gaps() {
    let mut pacer = Pacer::new(Speed::Factor(10.0));
    let start = Instant::now();
    assert_eq!(pacer.deadline(1_000_000, start), Some(start));
    assert_eq!(pacer.deadline(1_010_000, start), Some(start + Duration::from_secs(1)));
    // A jump back in time waits no longer than the largest time so far.
    assert_eq!(pacer.deadline(900_000, start), Some(start + Duration::from_secs(1)));
    assert_eq!(Pacer::new(Speed::Max).deadline(1_000_000, start), None);
}

#[test]
fn stats_count_events_behind_partition() {
    let mut stats = ReplayStats::new(2, 5_000);
    stats.record(0, 100_000);
    stats.record(0, 96_000);
    stats.record(1, 10_000);
    stats.record(0, 50_000);
    assert_eq!(stats.behind_partition_max, 1);
    assert_eq!(stats.time_range, Some((10_000, 100_000)));
    assert_eq!(stats.sent, 4);
}

#[test]
fn replayed_events_are_valid() {
    let otto = r#"{"session":1,"events":[{"aid":5,"ts":1659304800025,"type":"carts"}]}"#;
    let mut events = otto::map_line(otto).unwrap();
    let record = csv::StringRecord::from(vec![
        "2019-10-01 00:00:00 UTC",
        "view",
        "1",
        "2053013555631882655",
        "",
        "",
        "-1.50",
        "7",
        "",
    ]);
    events.push(rees46::map_record(&record, 2).unwrap());
    for event in events {
        let json = event.to_json();
        let decoded = decode_event(Some(&json), &ValidationConfig::default(), event.timestamp_ms).unwrap();
        assert_eq!(decoded.page, event.page);
        assert_eq!(decoded.timestamp_ms, event.timestamp_ms);
        assert_eq!(decoded.event_id, event.event_id.as_u128());
    }
}

#[test]
fn rees46_sample_maps_every_row() {
    let Some(path) = rees46_sample() else { return };
    let events = read_rees46(&path);
    assert_eq!(events.len(), 17_434);
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *per_type.entry(event.event_type.as_str()).or_insert(0) += 1;
    }
    assert_eq!(per_type["page_view"], 17_055);
    assert_eq!(per_type["purchase"], 214);
    assert_eq!(per_type["add_to_cart"], 165);
    assert!(events.windows(2).all(|pair| pair[0].timestamp_ms <= pair[1].timestamp_ms));
}

#[test]
fn rees46_counts_match_python_oracle() {
    let Some(path) = rees46_sample() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oracle/rees46_counts.py");
    let output = match Command::new("python3").arg(&script).arg(&path).arg("--shift-minutes").arg("7").output() {
        Ok(output) => output,
        Err(error) => {
            println!("SKIPPED: python3 not runnable ({error})");
            return;
        }
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut counts: BTreeMap<(i64, String, &str), u64> = BTreeMap::new();
    for event in read_rees46(&path) {
        let shifted = event.timestamp_ms + 7 * MINUTE_MS;
        let window_start = shifted - shifted.rem_euclid(MINUTE_MS);
        *counts.entry((window_start, event.page, event.event_type.as_str())).or_insert(0) += 1;
    }
    let mut expected = String::from("window_start_ms,page,event_type,count\n");
    for ((window_start, page, event_type), count) in &counts {
        expected.push_str(&format!("{window_start},{page},{event_type},{count}\n"));
    }
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
}

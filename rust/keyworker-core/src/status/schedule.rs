//! Weekly schedules: weekday sets and minute windows in an IANA time zone, their time/day
//! label (the home app's `time_day` status) and whether an instant falls inside them.
//!
//! Local time comes from `jiff` with its bundled copy of the tz database, so daylight-saving
//! rules are the same on every machine, Lambda included (it has no `/usr/share/zoneinfo`).

use std::fmt;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::error::StatusError;
use crate::limits::MAX_WINDOWS;

/// Weekday names of the JSON form, Monday first (the index is the weekday's bit).
pub const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Weekday words of the label, Monday first.
const WEEKDAY_LABELS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// Minutes in a day: the largest end of a window (shown as `24:00`).
pub const MINUTES_PER_DAY: u16 = 1440;

/// The first UTC instant with a local time (-9999-01-02T01:59:59Z): the range is the one
/// where every UTC offset (up to ±25:59:59) still gives a local date in the years
/// -9999..=9999, so it is the same for every time zone. (It is `jiff::Timestamp`'s range;
/// a test pins the two together.)
pub const FIRST_LOCAL_INSTANT: i64 = -377_705_023_201;
/// The last UTC instant with a local time (9999-12-30T22:00:00Z).
pub const LAST_LOCAL_INSTANT: i64 = 253_402_207_200;

/// A set of weekdays; bit 0 is Monday, bit 6 Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Every day of the week.
    pub const ALL: Weekdays = Weekdays(0x7f);

    /// The set with these bits (Monday = bit 0); `None` if a bit above Sunday is set.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !0x7f == 0 {
            Some(Weekdays(bits))
        } else {
            None
        }
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set holds the day `monday_zero` days after Monday (0..=6).
    pub const fn contains(self, monday_zero: u8) -> bool {
        monday_zero < 7 && self.0 & (1 << monday_zero) != 0
    }

    /// Adds the day named `name` (`"mon"`..`"sun"`), not yet in the set; `field` names the
    /// input in the error.
    pub fn insert_name(&mut self, name: &str, field: impl fmt::Display) -> Result<(), StatusError> {
        let index = WEEKDAY_NAMES
            .iter()
            .position(|&d| d == name)
            .ok_or_else(|| {
                StatusError::schedule(
                    field.to_string(),
                    format!("unknown weekday `{name}`; expected one of {WEEKDAY_NAMES:?}"),
                )
            })?;
        // A day named twice is a mistake of the caller (and, repeated, a way to send a
        // huge request for a 7-bit set): refused, not folded.
        if self.0 & (1 << index) != 0 {
            return Err(StatusError::schedule(
                field.to_string(),
                format!("weekday `{name}` is named twice"),
            ));
        }
        self.0 |= 1 << index;
        Ok(())
    }

    /// The names of the days in the set, Monday first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        (0..7u8)
            .filter(move |&d| self.contains(d))
            .map(|d| WEEKDAY_NAMES[usize::from(d)])
    }

    /// The days part of a label: `Daily` for the whole week, a run of three or more
    /// consecutive days as `Mon–Fri`, shorter runs as single days, all joined by `, `.
    /// The week does not wrap: Monday-first order puts Sunday last, so {Sat, Sun, Mon} is
    /// `Mon, Sat, Sun`.
    pub fn label(self) -> String {
        let mut out = String::new();
        self.write_label(&mut out);
        out
    }

    fn write_label(self, out: &mut String) {
        if self == Weekdays::ALL {
            out.push_str("Daily");
            return;
        }
        let mut first_item = true;
        let mut item = |out: &mut String, text: &str| {
            if !first_item {
                out.push_str(", ");
            }
            first_item = false;
            out.push_str(text);
        };
        let mut day = 0u8;
        while day < 7 {
            if !self.contains(day) {
                day += 1;
                continue;
            }
            let first = day;
            while day + 1 < 7 && self.contains(day + 1) {
                day += 1;
            }
            let (a, b) = (usize::from(first), usize::from(day));
            if b - a >= 2 {
                item(out, WEEKDAY_LABELS[a]);
                out.push('–');
                out.push_str(WEEKDAY_LABELS[b]);
            } else {
                for d in &WEEKDAY_LABELS[a..=b] {
                    item(out, d);
                }
            }
            day += 1;
        }
    }
}

/// One weekly window: on each of `days`, from minute `start` to minute `end` of the local
/// day. It never crosses midnight (a night shift is two windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    days: Weekdays,
    start: u16,
    end: u16,
}

impl Window {
    /// A window, checked: at least one day and `0 <= start < end <= 1440`. `field` is the
    /// window's path (e.g. `schedule.windows[0]`) for errors.
    pub fn new(
        days: Weekdays,
        start: i64,
        end: i64,
        field: impl fmt::Display,
    ) -> Result<Self, StatusError> {
        if days.is_empty() {
            return Err(StatusError::schedule(
                format!("{field}.days"),
                "a window needs at least one weekday",
            ));
        }
        let day = 0..i64::from(MINUTES_PER_DAY);
        if !day.contains(&start) {
            return Err(StatusError::schedule(
                format!("{field}.start"),
                format!("start minute {start} is outside 0..1440"),
            ));
        }
        if end <= start || end > i64::from(MINUTES_PER_DAY) {
            return Err(StatusError::schedule(
                format!("{field}.end"),
                format!("end minute {end} breaks start ({start}) < end <= 1440"),
            ));
        }
        // Both are in 0..=1440 here, so they fit.
        Ok(Window {
            days,
            start: start as u16,
            end: end as u16,
        })
    }

    pub const fn days(self) -> Weekdays {
        self.days
    }

    /// First minute of the window in the local day.
    pub const fn start(self) -> u16 {
        self.start
    }

    /// First minute after the window (1440 = midnight at the end of the day).
    pub const fn end(self) -> u16 {
        self.end
    }

    /// Whether local minute `minute` of weekday `monday_zero` falls inside.
    pub const fn contains(self, monday_zero: u8, minute: u16) -> bool {
        self.days.contains(monday_zero) && self.start <= minute && minute < self.end
    }

    /// This window's part of the label, e.g. `Mon–Fri 07:00–19:00`.
    pub fn label(self) -> String {
        let mut out = String::new();
        self.write_label(&mut out);
        out
    }

    fn write_label(self, out: &mut String) {
        self.days.write_label(out);
        // Digits pushed by hand: the label is built on every `evaluate` of a scheduled key,
        // and the formatting machinery cost a tenth of such a call.
        out.push(' ');
        push_clock(out, self.start);
        out.push('–');
        push_clock(out, self.end);
    }
}

/// A weekly schedule in an IANA time zone (the site's).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    time_zone: TimeZone,
    windows: Vec<Window>,
}

impl Schedule {
    /// A schedule, checked: a known IANA zone name, spelled exactly as the database spells it
    /// (so every consumer, including Python's `zoneinfo` on a case-sensitive file system,
    /// agrees on it), and 1 to [`MAX_WINDOWS`] windows (what a credential carries).
    pub fn new(time_zone: &str, windows: Vec<Window>) -> Result<Self, StatusError> {
        let zone = time_zone_named(time_zone)?;
        if windows.is_empty() || windows.len() > MAX_WINDOWS {
            return Err(StatusError::schedule(
                "schedule.windows",
                format!(
                    "a schedule needs 1..={MAX_WINDOWS} windows, not {}",
                    windows.len()
                ),
            ));
        }
        Ok(Schedule {
            time_zone: zone,
            windows,
        })
    }

    /// The IANA name of the schedule's time zone.
    pub fn time_zone_name(&self) -> &str {
        // Schedule::new only accepts zones that have their IANA name.
        self.time_zone.iana_name().unwrap_or("UTC")
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The home app's time/day information: each window as days then times, in the order
    /// given, joined by `, `, e.g. `Mon–Fri 07:00–19:00, Sat 09:00–12:00`.
    pub fn label(&self) -> String {
        let mut out = String::with_capacity(24 * self.windows.len());
        for (i, w) in self.windows.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            w.write_label(&mut out);
        }
        out
    }

    /// Whether the local time at `instant` (UTC seconds; daylight-saving time applied) is in
    /// one of the windows. `field` names the instant in the error when it is outside
    /// [`FIRST_LOCAL_INSTANT`]..=[`LAST_LOCAL_INSTANT`].
    pub fn contains(&self, instant: i64, field: &str) -> Result<bool, StatusError> {
        let at = Timestamp::from_second(instant).map_err(|_| {
            StatusError::key_data(
                field,
                format!(
                    "instant {instant} is outside {FIRST_LOCAL_INSTANT}..={LAST_LOCAL_INSTANT}, \
                     where local time is defined"
                ),
            )
        })?;
        let local = self.time_zone.to_datetime(at);
        // to_monday_zero_offset is 0..=6 and hour/minute are in range, so the casts are exact.
        let weekday = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        Ok(self.windows.iter().any(|w| w.contains(weekday, minute)))
    }
}

/// The zone with this exact IANA name, from the bundled database.
fn time_zone_named(name: &str) -> Result<TimeZone, StatusError> {
    let unknown = || {
        StatusError::schedule(
            "schedule.time_zone",
            format!("unknown IANA time zone `{name}`"),
        )
    };
    let zone = TimeZone::get(name).map_err(|_| unknown())?;
    // The database looks names up case-insensitively; the stored name must be the real one.
    if zone.iana_name() != Some(name) {
        return Err(unknown());
    }
    Ok(zone)
}

/// Minute of the day from `HH:MM` (two digits each, `00:00` to `24:00`).
pub fn parse_clock(text: &str, field: impl fmt::Display) -> Result<u16, StatusError> {
    let bad = |why: &str| StatusError::schedule(field.to_string(), format!("`{text}` {why}"));
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return Err(bad("is not a time of day as HH:MM"));
    }
    let two = |hi: u8, lo: u8| u16::from(hi - b'0') * 10 + u16::from(lo - b'0');
    let (hours, minutes) = (two(b[0], b[1]), two(b[3], b[4]));
    if minutes > 59 || hours > 24 || (hours == 24 && minutes != 0) {
        return Err(bad("is not a time of day between 00:00 and 24:00"));
    }
    Ok(hours * 60 + minutes)
}

/// Appends `HH:MM` for a minute of the day (at most 1440, which is `24:00`).
fn push_clock(out: &mut String, minute: u16) {
    let digit = |d: u16| char::from(b'0' + (d % 10) as u8);
    let (hours, minutes) = (minute / 60, minute % 60);
    out.push(digit(hours / 10));
    out.push(digit(hours));
    out.push(':');
    out.push(digit(minutes / 10));
    out.push(digit(minutes));
}

/// `HH:MM` for a minute of the day (1440 is `24:00`).
pub fn format_clock(minute: u16) -> String {
    let mut text = String::with_capacity(5);
    push_clock(&mut text, minute);
    text
}

/// Reads a time/day label back into `(days, start, end)` windows; `None` if it is not one.
///
/// Labels separate both day items and windows with `, `, yet stay unambiguous: every window
/// ends with its times, so day items accumulate until an item that carries times.
pub fn parse_label(label: &str) -> Option<Vec<(Weekdays, u16, u16)>> {
    let mut windows = Vec::new();
    let mut days = Weekdays::default();
    for item in label.split(", ") {
        let (day_part, times) = match item.split_once(' ') {
            Some((d, t)) => (d, Some(t)),
            None => (item, None),
        };
        days = Weekdays(days.0 | parse_day_item(day_part)?.0);
        if let Some(times) = times {
            let (start, end) = times.split_once('–')?;
            let start = parse_clock(start, "label").ok()?;
            let end = parse_clock(end, "label").ok()?;
            windows.push((days, start, end));
            days = Weekdays::default();
        }
    }
    // Days with no times after them: not a label.
    if !days.is_empty() || windows.is_empty() {
        return None;
    }
    Some(windows)
}

fn parse_day_item(item: &str) -> Option<Weekdays> {
    let day = |word: &str| WEEKDAY_LABELS.iter().position(|&d| d == word);
    if item == "Daily" {
        return Some(Weekdays::ALL);
    }
    if let Some((a, b)) = item.split_once('–') {
        let (a, b) = (day(a)?, day(b)?);
        if b < a + 2 {
            return None;
        }
        return Some(Weekdays((a..=b).fold(0, |m, d| m | 1 << d)));
    }
    Some(Weekdays(1 << day(item)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(names: &[&str]) -> Weekdays {
        let mut d = Weekdays::default();
        for n in names {
            d.insert_name(n, "days").unwrap();
        }
        d
    }

    fn window(names: &[&str], start: i64, end: i64) -> Window {
        Window::new(days(names), start, end, "schedule.windows[0]").unwrap()
    }

    #[test]
    fn labels_follow_the_documented_format() {
        let weekdays = ["mon", "tue", "wed", "thu", "fri"];
        let s = Schedule::new(
            "Europe/Zurich",
            vec![window(&weekdays, 420, 1140), window(&["sat"], 540, 720)],
        )
        .unwrap();
        assert_eq!(s.label(), "Mon–Fri 07:00–19:00, Sat 09:00–12:00");
        assert_eq!(days(&["sat", "sun"]).label(), "Sat, Sun");
        assert_eq!(days(&["mon", "tue"]).label(), "Mon, Tue");
        assert_eq!(days(&["mon", "wed", "fri"]).label(), "Mon, Wed, Fri");
        assert_eq!(days(&["mon", "tue", "wed", "fri"]).label(), "Mon–Wed, Fri");
        assert_eq!(days(&["sat", "sun", "mon"]).label(), "Mon, Sat, Sun");
        assert_eq!(days(&["fri", "sat", "sun"]).label(), "Fri–Sun");
        assert_eq!(Weekdays::ALL.label(), "Daily");
        assert_eq!(window(&["sun"], 0, 1440).label(), "Sun 00:00–24:00");
        assert_eq!(window(&WEEKDAY_NAMES, 0, 1).label(), "Daily 00:00–00:01");
    }

    #[test]
    fn windows_are_checked() {
        let err = |d: Weekdays, s, e| Window::new(d, s, e, "schedule.windows[2]").unwrap_err();
        let mon = days(&["mon"]);
        assert_eq!(
            err(Weekdays::default(), 0, 10).field(),
            Some("schedule.windows[2].days")
        );
        assert_eq!(err(mon, -1, 10).field(), Some("schedule.windows[2].start"));
        assert_eq!(
            err(mon, 1440, 1441).field(),
            Some("schedule.windows[2].start")
        );
        assert_eq!(err(mon, 60, 60).field(), Some("schedule.windows[2].end"));
        assert_eq!(err(mon, 60, 30).field(), Some("schedule.windows[2].end"));
        assert_eq!(err(mon, 0, 1441).field(), Some("schedule.windows[2].end"));
        assert!(matches!(
            err(mon, 0, 1441),
            StatusError::InvalidSchedule { .. }
        ));
        assert!(Window::new(mon, 0, 1440, "w").is_ok());
        let mut d = Weekdays::default();
        let e = d
            .insert_name("Mon", "schedule.windows[0].days")
            .unwrap_err();
        assert_eq!(e.field(), Some("schedule.windows[0].days"));
    }

    #[test]
    fn schedules_need_a_real_zone_and_a_window() {
        let w = vec![window(&["mon"], 0, 60)];
        for bad in ["Mars/Olympus_Mons", "europe/zurich", "", "Europe/Zurich "] {
            let e = Schedule::new(bad, w.clone()).unwrap_err();
            assert_eq!(e.field(), Some("schedule.time_zone"), "{bad}");
        }
        assert_eq!(
            Schedule::new("UTC", vec![]).unwrap_err().field(),
            Some("schedule.windows")
        );
        let s = Schedule::new("America/New_York", w).unwrap();
        assert_eq!(s.time_zone_name(), "America/New_York");
    }

    #[test]
    fn schedules_hold_at_most_what_a_credential_carries() {
        let w = window(&["mon"], 0, 60);
        assert!(Schedule::new("UTC", vec![w; MAX_WINDOWS]).is_ok());
        for count in [MAX_WINDOWS + 1, 10_000] {
            let e = Schedule::new("UTC", vec![w; count]).unwrap_err();
            assert_eq!(e.field(), Some("schedule.windows"), "{count}");
        }
    }

    #[test]
    fn a_weekday_named_twice_is_refused() {
        let mut d = Weekdays::default();
        d.insert_name("mon", "schedule.windows[0].days").unwrap();
        let e = d
            .insert_name("mon", "schedule.windows[0].days")
            .unwrap_err();
        assert_eq!(e.field(), Some("schedule.windows[0].days"));
        assert!(matches!(e, StatusError::InvalidSchedule { .. }));
        assert_eq!(d, days(&["mon"]));
    }

    #[test]
    fn clock_times_parse_and_print() {
        assert_eq!(parse_clock("07:00", "f"), Ok(420));
        assert_eq!(parse_clock("00:00", "f"), Ok(0));
        assert_eq!(parse_clock("24:00", "f"), Ok(1440));
        assert_eq!(parse_clock("23:59", "f"), Ok(1439));
        for bad in [
            "7:00",
            "07:60",
            "24:01",
            "25:00",
            "07-00",
            "0700",
            "07:00 ",
            "٠٧:٠٠",
        ] {
            let e = parse_clock(bad, "schedule.windows[0].start").unwrap_err();
            assert_eq!(e.field(), Some("schedule.windows[0].start"), "{bad}");
        }
        assert_eq!(format_clock(1440), "24:00");
        assert_eq!(format_clock(5), "00:05");
    }

    #[test]
    fn labels_read_back() {
        let s = Schedule::new(
            "UTC",
            vec![
                window(&["mon", "wed"], 0, 30),
                window(&WEEKDAY_NAMES, 60, 1440),
                window(&["tue", "wed", "thu", "sun"], 600, 660),
            ],
        )
        .unwrap();
        let label = s.label();
        assert_eq!(
            label,
            "Mon, Wed 00:00–00:30, Daily 01:00–24:00, Tue–Thu, Sun 10:00–11:00"
        );
        let back: Vec<_> = s
            .windows()
            .iter()
            .map(|w| (w.days(), w.start(), w.end()))
            .collect();
        assert_eq!(parse_label(&label), Some(back));
        for bad in [
            "",
            "Mon",
            "Mon 07:00",
            "Mon–Tue 07:00–08:00",
            "Xyz 07:00–08:00",
        ] {
            assert_eq!(parse_label(bad), None, "{bad}");
        }
    }

    /// Zurich leaves winter time on 2024-03-31 (02:00 CET becomes 03:00 CEST) and returns on
    /// 2024-10-27 (03:00 CEST becomes 02:00 CET).
    #[test]
    fn local_time_follows_daylight_saving_in_zurich() {
        // Sunday windows: 01:00–02:00, 02:00–03:00 (skipped in spring), 03:00–04:00.
        let sun = |a, b| window(&["sun"], a, b);
        let zurich = |w| Schedule::new("Europe/Zurich", vec![w]).unwrap();
        let early = zurich(sun(60, 120));
        let gap = zurich(sun(120, 180));
        let late = zurich(sun(180, 240));
        // 2024-03-31T00:59:59Z is 01:59:59 CET; one second later it is 03:00:00 CEST.
        let spring = 1_711_846_800; // 2024-03-31T01:00:00Z
        assert!(early.contains(spring - 1, "now").unwrap());
        assert!(!early.contains(spring, "now").unwrap());
        assert!(late.contains(spring, "now").unwrap());
        // No instant of that day is 02:xx local.
        for t in (spring - 3 * 3600..spring + 3 * 3600).step_by(60) {
            assert!(!gap.contains(t, "now").unwrap(), "{t}");
        }
        // In autumn 02:00–03:00 local happens twice: 00:00Z–01:00Z (CEST) and 01:00Z–02:00Z
        // (CET); both are in the window, and 02:00Z is 03:00 CET.
        let autumn = 1_729_990_800; // 2024-10-27T01:00:00Z
        assert!(!gap.contains(autumn - 3600 - 1, "now").unwrap());
        assert!(gap.contains(autumn - 3600, "now").unwrap());
        assert!(gap.contains(autumn, "now").unwrap());
        assert!(gap.contains(autumn + 3599, "now").unwrap());
        assert!(!gap.contains(autumn + 3600, "now").unwrap());
        assert!(late.contains(autumn + 3600, "now").unwrap());
        // Summer time shifts a UTC-fixed instant by an hour: 06:30Z is 07:30 in January
        // (CET) and 08:30 in July (CEST).
        let seven_to_eight =
            Schedule::new("Europe/Zurich", vec![window(&WEEKDAY_NAMES, 420, 480)]).unwrap();
        assert!(seven_to_eight.contains(1_704_868_200, "now").unwrap()); // 2024-01-10T06:30Z
        assert!(!seven_to_eight.contains(1_720_593_000, "now").unwrap()); // 2024-07-10T06:30Z
    }

    #[test]
    fn instants_outside_local_time_are_key_data_errors() {
        let s = Schedule::new("UTC", vec![window(&["mon"], 0, 60)]).unwrap();
        let e = s.contains(i64::MAX, "instant").unwrap_err();
        assert!(matches!(e, StatusError::InvalidKeyData { .. }));
        assert_eq!(e.field(), Some("instant"));
        assert_eq!(FIRST_LOCAL_INSTANT, Timestamp::MIN.as_second());
        assert_eq!(LAST_LOCAL_INSTANT, Timestamp::MAX.as_second());
        let every_day = Schedule::new("UTC", vec![window(&WEEKDAY_NAMES, 0, 1440)]).unwrap();
        assert!(every_day.contains(FIRST_LOCAL_INSTANT, "instant").unwrap());
        assert!(every_day.contains(LAST_LOCAL_INSTANT, "instant").unwrap());
        assert!(every_day
            .contains(FIRST_LOCAL_INSTANT - 1, "instant")
            .is_err());
        assert!(every_day
            .contains(LAST_LOCAL_INSTANT + 1, "instant")
            .is_err());
        // 1970-01-05 was a Monday.
        assert!(s.contains(4 * 86_400, "instant").unwrap());
        assert!(!s.contains(4 * 86_400 + 3600, "instant").unwrap());
        assert!(!s.contains(3 * 86_400, "instant").unwrap());
    }
}

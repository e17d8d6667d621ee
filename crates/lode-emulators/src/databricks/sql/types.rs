//! SQL types and values of the emulated Databricks SQL subset: the column types a table can
//! hold, their names as Databricks prints them (statement manifest, Unity Catalog, DESCRIBE),
//! their Delta types, the in-memory `Value`, and the value semantics the executor needs: casts
//! (ANSI mode, the way Databricks SQL warehouses run), typed comparison, arithmetic and the
//! JSON_ARRAY text of each value.

use deltalake::kernel::{DataType, PrimitiveType};

use super::SqlError;

/// A column (or expression) type. `Null` is the type of a bare `NULL` literal (Databricks' VOID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlType {
    String,
    Byte,
    Short,
    Int,
    Long,
    Float,
    Double,
    Boolean,
    Date,
    Timestamp,
    Decimal(u8, u8),
    Null,
}

impl SqlType {
    /// The statement manifest's `type_name` (and Unity Catalog's).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            SqlType::String => "STRING",
            SqlType::Byte => "BYTE",
            SqlType::Short => "SHORT",
            SqlType::Int => "INT",
            SqlType::Long => "LONG",
            SqlType::Float => "FLOAT",
            SqlType::Double => "DOUBLE",
            SqlType::Boolean => "BOOLEAN",
            SqlType::Date => "DATE",
            SqlType::Timestamp => "TIMESTAMP",
            SqlType::Decimal(..) => "DECIMAL",
            SqlType::Null => "NULL",
        }
    }

    /// The SQL spelling in upper case, as the statement manifest's `type_text` and error
    /// messages print it (`BIGINT`, `DECIMAL(10,2)`).
    pub(crate) fn sql_name(&self) -> String {
        match self {
            SqlType::Byte => "TINYINT".into(),
            SqlType::Short => "SMALLINT".into(),
            SqlType::Long => "BIGINT".into(),
            SqlType::Decimal(p, s) => format!("DECIMAL({p},{s})"),
            SqlType::Null => "VOID".into(),
            other => other.type_name().into(),
        }
    }

    /// The lower-case spelling Unity Catalog and DESCRIBE TABLE print (`bigint`, `decimal(10,2)`).
    pub(crate) fn catalog_text(&self) -> String {
        self.sql_name().to_lowercase()
    }

    /// Resolves a type name as written in DDL; `args` are the numbers in parentheses.
    pub(crate) fn from_words(name: &str, args: &[u32]) -> Result<SqlType, SqlError> {
        let lower = name.to_ascii_lowercase();
        let simple = |t: SqlType| {
            if args.is_empty() {
                Ok(t)
            } else {
                Err(SqlError::unsupported_type(name))
            }
        };
        match lower.as_str() {
            "string" => simple(SqlType::String),
            "int" | "integer" => simple(SqlType::Int),
            "bigint" | "long" => simple(SqlType::Long),
            "smallint" | "short" => simple(SqlType::Short),
            "tinyint" | "byte" => simple(SqlType::Byte),
            "double" => simple(SqlType::Double),
            "float" | "real" => simple(SqlType::Float),
            "boolean" | "bool" => simple(SqlType::Boolean),
            "date" => simple(SqlType::Date),
            "timestamp" => simple(SqlType::Timestamp),
            "decimal" | "dec" | "numeric" => {
                let (p, s) = match args {
                    [] => (10, 0),
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return Err(SqlError::unsupported_type(name)),
                };
                if p == 0 || p > 38 || s > p {
                    return Err(SqlError::new(
                        "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION",
                        "22003",
                        format!("Decimal precision {p} exceeds max precision 38."),
                    ));
                }
                Ok(SqlType::Decimal(p as u8, s as u8))
            }
            _ => Err(SqlError::unsupported_type(name)),
        }
    }

    /// Parses a type as Unity Catalog or a pipeline spells it (`decimal(10,2)`, `BIGINT`).
    pub(crate) fn from_text(text: &str) -> Result<SqlType, SqlError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (name, args) = match compact.split_once('(') {
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix(')')
                    .ok_or_else(|| SqlError::unsupported_type(text))?;
                let args = inner
                    .split(',')
                    .map(|a| {
                        a.parse::<u32>()
                            .map_err(|_| SqlError::unsupported_type(text))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (n.to_string(), args)
            }
            None => (compact, Vec::new()),
        };
        SqlType::from_words(&name, &args)
    }

    pub(crate) fn to_delta(&self) -> DataType {
        match self {
            SqlType::String | SqlType::Null => DataType::STRING,
            SqlType::Byte => DataType::BYTE,
            SqlType::Short => DataType::SHORT,
            SqlType::Int => DataType::INTEGER,
            SqlType::Long => DataType::LONG,
            SqlType::Float => DataType::FLOAT,
            SqlType::Double => DataType::DOUBLE,
            SqlType::Boolean => DataType::BOOLEAN,
            SqlType::Date => DataType::DATE,
            SqlType::Timestamp => DataType::TIMESTAMP,
            // Precision/scale were validated by from_words, so this cannot fail.
            SqlType::Decimal(p, s) => DataType::decimal(*p, *s).unwrap_or(DataType::DOUBLE),
        }
    }

    pub(crate) fn from_delta(dt: &DataType) -> Option<SqlType> {
        match dt {
            DataType::Primitive(p) => Some(match p {
                PrimitiveType::String => SqlType::String,
                PrimitiveType::Long => SqlType::Long,
                PrimitiveType::Integer => SqlType::Int,
                PrimitiveType::Short => SqlType::Short,
                PrimitiveType::Byte => SqlType::Byte,
                PrimitiveType::Float => SqlType::Float,
                PrimitiveType::Double => SqlType::Double,
                PrimitiveType::Boolean => SqlType::Boolean,
                PrimitiveType::Date => SqlType::Date,
                PrimitiveType::Timestamp => SqlType::Timestamp,
                PrimitiveType::Decimal(d) => SqlType::Decimal(d.precision(), d.scale()),
                _ => return None,
            }),
            _ => None,
        }
    }

    pub(crate) fn is_integral(&self) -> bool {
        matches!(
            self,
            SqlType::Byte | SqlType::Short | SqlType::Int | SqlType::Long
        )
    }

    pub(crate) fn is_numeric(&self) -> bool {
        self.is_integral()
            || matches!(
                self,
                SqlType::Float | SqlType::Double | SqlType::Decimal(..)
            )
    }

    fn int_range(&self) -> (i64, i64) {
        match self {
            SqlType::Byte => (i8::MIN as i64, i8::MAX as i64),
            SqlType::Short => (i16::MIN as i64, i16::MAX as i64),
            SqlType::Int => (i32::MIN as i64, i32::MAX as i64),
            _ => (i64::MIN, i64::MAX),
        }
    }
}

/// One SQL value. Integers of every width are `Int`; the column type says how wide it is.
/// `Str` doubles as the type of string literals and parameters, which take the type of whatever
/// they meet (a column in INSERT, the other side of a comparison). `PartialEq` is structural
/// (it compares syntax trees), not SQL equality: use `compare` for that.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f32),
    Double(f64),
    /// Unscaled value and scale.
    Decimal(i128, u8),
    Str(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

impl Value {
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type a literal of this value has in Databricks.
    pub(crate) fn literal_type(&self) -> SqlType {
        match self {
            Value::Null => SqlType::Null,
            Value::Bool(_) => SqlType::Boolean,
            Value::Int(i) if i32::try_from(*i).is_ok() => SqlType::Int,
            Value::Int(_) => SqlType::Long,
            Value::Float(_) => SqlType::Float,
            Value::Double(_) => SqlType::Double,
            Value::Decimal(m, s) => {
                SqlType::Decimal(digits(*m).max(*s as u32).clamp(1, 38) as u8, *s)
            }
            Value::Str(_) => SqlType::String,
            Value::Date(_) => SqlType::Date,
            Value::Timestamp(_) => SqlType::Timestamp,
        }
    }

    /// The text a JSON_ARRAY result carries for this value (`None` is JSON null).
    pub(crate) fn render(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Timestamp(t) => Some(fmt_timestamp_iso(*t)),
            other => Some(other.cast_text()),
        }
    }

    /// The text `CAST(v AS STRING)` gives (timestamps as `2026-11-24 08:00:00`).
    fn cast_text(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => java_float(*f),
            Value::Double(f) => java_double(*f),
            Value::Decimal(m, s) => fmt_decimal(*m, *s),
            Value::Str(s) => s.clone(),
            Value::Date(d) => fmt_date(*d),
            Value::Timestamp(t) => fmt_timestamp_plain(*t),
        }
    }

    fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f as f64),
            Value::Double(f) => Some(*f),
            Value::Decimal(m, s) => fmt_decimal(*m, *s).parse().ok(),
            _ => None,
        }
    }

    fn to_decimal(&self) -> Option<(i128, u8)> {
        match self {
            Value::Int(i) => Some((*i as i128, 0)),
            Value::Decimal(m, s) => Some((*m, *s)),
            _ => None,
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Float(_) | Value::Double(_) | Value::Decimal(..)
        )
    }
}

/// Number of decimal digits of |m| (0 has one digit).
fn digits(m: i128) -> u32 {
    let mut n = m.unsigned_abs();
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// Changes the scale of an unscaled decimal, rounding half away from zero like Spark.
fn rescale(m: i128, from: u32, to: u32) -> Option<i128> {
    if to >= from {
        if m == 0 {
            return Some(0);
        }
        m.checked_mul(pow10(to - from)?)
    } else {
        let Some(d) = pow10(from - to) else {
            return Some(0);
        };
        let (q, r) = (m / d, m % d);
        Some(if r.unsigned_abs() * 2 >= d.unsigned_abs() {
            q + m.signum()
        } else {
            q
        })
    }
}

fn fits(m: i128, precision: u8) -> bool {
    pow10(precision as u32).is_none_or(|limit| m.abs() < limit)
}

/// Parses decimal text (`-12.50`, `1e3`) into an unscaled value and its scale.
pub(crate) fn parse_decimal(text: &str) -> Option<(i128, u32)> {
    let t = text.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (num, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let all = all.trim_start_matches('0');
    let mut m: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    let mut scale = frac.len() as i32 - exp;
    if scale < 0 {
        m = m.checked_mul(pow10((-scale) as u32)?)?;
        scale = 0;
    }
    if scale > 38 {
        m = rescale(m, scale as u32, 38)?;
        scale = 38;
    }
    Some((if neg { -m } else { m }, scale as u32))
}

pub(crate) fn fmt_decimal(m: i128, scale: u8) -> String {
    let s = m.unsigned_abs().to_string();
    let sign = if m < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{s}");
    }
    let scale = scale as usize;
    let padded = format!("{s:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Java's `Double.toString`, which is how Databricks prints doubles (`2.0`, `1.0E10`).
pub(crate) fn java_double(f: f64) -> String {
    java_style(
        f.is_nan(),
        f.is_infinite(),
        f.is_sign_negative(),
        f.abs(),
        format!("{f}"),
        format!("{f:e}"),
    )
}

pub(crate) fn java_float(f: f32) -> String {
    java_style(
        f.is_nan(),
        f.is_infinite(),
        f.is_sign_negative(),
        f.abs() as f64,
        format!("{f}"),
        format!("{f:e}"),
    )
}

fn java_style(nan: bool, inf: bool, neg: bool, abs: f64, plain: String, sci: String) -> String {
    if nan {
        return "NaN".into();
    }
    if inf {
        return if neg {
            "-Infinity".into()
        } else {
            "Infinity".into()
        };
    }
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        return if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        };
    }
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mant = if mant.contains('.') {
        mant.to_string()
    } else {
        format!("{mant}.0")
    };
    format!("{mant}E{exp}")
}

// --- dates and timestamps (proleptic Gregorian, UTC) ---

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

pub(crate) fn fmt_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

fn split_micros(t: i64) -> (i32, i64) {
    (
        t.div_euclid(MICROS_PER_DAY) as i32,
        t.rem_euclid(MICROS_PER_DAY),
    )
}

fn hms(us: i64) -> (i64, i64, i64, i64) {
    let secs = us / 1_000_000;
    (secs / 3600, secs / 60 % 60, secs % 60, us % 1_000_000)
}

/// `2026-11-24T08:00:00.000Z`: milliseconds always, microseconds only when present.
pub(crate) fn fmt_timestamp_iso(t: i64) -> String {
    let (days, us) = split_micros(t);
    let (h, mi, s, frac) = hms(us);
    let frac = if frac % 1000 == 0 {
        format!("{:03}", frac / 1000)
    } else {
        format!("{frac:06}")
    };
    format!("{}T{h:02}:{mi:02}:{s:02}.{frac}Z", fmt_date(days))
}

/// `2026-11-24 08:00:00[.fraction]`, the text of a timestamp cast to STRING.
fn fmt_timestamp_plain(t: i64) -> String {
    let (days, us) = split_micros(t);
    let (h, mi, s, frac) = hms(us);
    let mut out = format!("{} {h:02}:{mi:02}:{s:02}", fmt_date(days));
    if frac != 0 {
        out.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    out
}

fn take_digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s
        .bytes()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// `yyyy[-m[m][-d[d]]]` followed by anything after `T` or a space, as Spark accepts it.
/// Returns days and the unparsed rest (starting after the separator, if any).
fn parse_date_prefix(s: &str) -> Option<(i32, &str)> {
    let (y, mut rest) = take_digits(s, 4, 4)?;
    let (mut m, mut d) = (1, 1);
    if let Some(r) = rest.strip_prefix('-') {
        let (mm, r) = take_digits(r, 1, 2)?;
        m = mm;
        rest = r;
        if let Some(r) = rest.strip_prefix('-') {
            let (dd, r) = take_digits(r, 1, 2)?;
            d = dd;
            rest = r;
        }
    }
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y as i64, m) {
        return None;
    }
    let rest = match rest.chars().next() {
        None => "",
        Some('T') | Some(' ') => &rest[1..],
        _ => return None,
    };
    Some((days_from_civil(y as i64, m, d) as i32, rest))
}

pub(crate) fn parse_date(s: &str) -> Option<i32> {
    parse_date_prefix(s.trim()).map(|(d, _)| d)
}

/// `yyyy-mm-dd[( |T)hh:mm[:ss[.fffffffff]]][zone]` with zone `Z`, `UTC` or `±hh[:mm]`;
/// no zone means UTC (the warehouse session time zone the emulator assumes).
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let (days, rest) = parse_date_prefix(s.trim())?;
    let mut micros = days as i64 * MICROS_PER_DAY;
    let mut rest = rest.trim_start();
    if !rest.is_empty() && rest.as_bytes()[0].is_ascii_digit() {
        let (h, r) = take_digits(rest, 1, 2)?;
        let r = r.strip_prefix(':')?;
        let (mi, mut r) = take_digits(r, 1, 2)?;
        let mut sec = 0;
        let mut frac_us = 0i64;
        if let Some(r2) = r.strip_prefix(':') {
            let (ss, r3) = take_digits(r2, 1, 2)?;
            sec = ss;
            r = r3;
            if let Some(r4) = r.strip_prefix('.') {
                let n = r4.bytes().take_while(|b| b.is_ascii_digit()).count();
                let digits = &r4[..n.min(6)];
                frac_us = format!("{digits:0<6}").parse().ok()?;
                r = &r4[n..];
            }
        }
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        micros += ((h as i64 * 60 + mi as i64) * 60 + sec as i64) * 1_000_000 + frac_us;
        rest = r.trim_start();
    }
    let offset_min: i64 = match rest {
        "" | "Z" | "UTC" | "GMT" => 0,
        z => {
            let (neg, z) = match z.as_bytes()[0] {
                b'+' => (false, &z[1..]),
                b'-' => (true, &z[1..]),
                _ => return None,
            };
            let (h, z) = take_digits(z, 1, 2)?;
            let z = z.strip_prefix(':').unwrap_or(z);
            let (m, z) = if z.is_empty() {
                (0, z)
            } else {
                take_digits(z, 2, 2)?
            };
            if !z.is_empty() || h > 18 || m > 59 {
                return None;
            }
            let off = h as i64 * 60 + m as i64;
            if neg { -off } else { off }
        }
    };
    Some(micros - offset_min * 60_000_000)
}

pub(crate) fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_micros() as i64
}

// --- casts ---

/// Casts with ANSI semantics: malformed text is CAST_INVALID_INPUT, out-of-range numbers are
/// CAST_OVERFLOW / NUMERIC_VALUE_OUT_OF_RANGE, impossible pairs are DATATYPE_MISMATCH.
pub(crate) fn cast(v: &Value, ty: &SqlType) -> Result<Value, SqlError> {
    use SqlType as T;
    let from = || v.literal_type().sql_name();
    Ok(match (v, ty) {
        (Value::Null, _) | (_, T::Null) => Value::Null,
        (Value::Str(_), T::String) => v.clone(),
        (_, T::String) => Value::Str(v.cast_text()),
        (Value::Str(s), _) => parse_text(s, ty)?,
        (Value::Bool(b), T::Boolean) => Value::Bool(*b),
        (Value::Bool(b), t) if t.is_numeric() => cast(&Value::Int(*b as i64), t)?,
        (Value::Int(i), t) if t.is_integral() => {
            let (lo, hi) = t.int_range();
            if *i < lo || *i > hi {
                return Err(SqlError::cast_overflow(
                    &i.to_string(),
                    &from(),
                    &t.sql_name(),
                ));
            }
            Value::Int(*i)
        }
        (Value::Float(_) | Value::Double(_) | Value::Decimal(..), t) if t.is_integral() => {
            // Fractions are truncated toward zero, as Spark casts do.
            let truncated = match v {
                Value::Decimal(m, s) => pow10(*s as u32)
                    .map(|d| m / d)
                    .and_then(|q| i64::try_from(q).ok()),
                _ => v
                    .to_f64()
                    .filter(|f| {
                        f.is_finite()
                            && f.trunc() >= i64::MIN as f64
                            && f.trunc() <= i64::MAX as f64
                    })
                    .map(|f| f.trunc() as i64),
            };
            match truncated {
                Some(i) => cast(&Value::Int(i), t)
                    .map_err(|_| SqlError::cast_overflow(&v.cast_text(), &from(), &t.sql_name()))?,
                None => {
                    return Err(SqlError::cast_overflow(
                        &v.cast_text(),
                        &from(),
                        &t.sql_name(),
                    ));
                }
            }
        }
        (_, T::Float) if v.is_numeric() => Value::Float(v.to_f64().unwrap_or(0.0) as f32),
        (_, T::Double) if v.is_numeric() => Value::Double(v.to_f64().unwrap_or(0.0)),
        (_, T::Decimal(p, s)) if v.is_numeric() => {
            let (m, sc) = match v.to_decimal() {
                Some((m, sc)) => (m, sc as u32),
                None => {
                    let f = v.to_f64().unwrap_or(f64::NAN);
                    if !f.is_finite() {
                        return Err(SqlError::cast_overflow(
                            &v.cast_text(),
                            &from(),
                            &ty.sql_name(),
                        ));
                    }
                    parse_decimal(&format!("{f}")).ok_or_else(|| {
                        SqlError::cast_overflow(&v.cast_text(), &from(), &ty.sql_name())
                    })?
                }
            };
            match rescale(m, sc, *s as u32).filter(|m| fits(*m, *p)) {
                Some(m) => Value::Decimal(m, *s),
                None => return Err(SqlError::decimal_overflow(&v.cast_text(), *p, *s)),
            }
        }
        (Value::Int(_) | Value::Decimal(..) | Value::Float(_) | Value::Double(_), T::Boolean) => {
            Value::Bool(v.to_f64().is_some_and(|f| f != 0.0))
        }
        (Value::Date(d), T::Date) => Value::Date(*d),
        (Value::Date(d), T::Timestamp) => Value::Timestamp(*d as i64 * MICROS_PER_DAY),
        (Value::Timestamp(t), T::Timestamp) => Value::Timestamp(*t),
        (Value::Timestamp(t), T::Date) => Value::Date(split_micros(*t).0),
        _ => return Err(SqlError::cannot_cast(&from(), &ty.sql_name())),
    })
}

fn parse_text(s: &str, ty: &SqlType) -> Result<Value, SqlError> {
    let bad = || SqlError::cast_invalid(s, "STRING", &ty.sql_name());
    let t = s.trim();
    Ok(match ty {
        SqlType::String | SqlType::Null => Value::Str(s.to_string()),
        SqlType::Boolean => match t.to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "1" => Value::Bool(true),
            "f" | "false" | "n" | "no" | "0" => Value::Bool(false),
            _ => return Err(bad()),
        },
        t2 if t2.is_integral() => {
            let i = match t.parse::<i64>() {
                Ok(i) => i,
                // Spark accepts a fraction and drops it ('1.5' -> 1).
                Err(_) => match t.split_once('.') {
                    Some((int, frac))
                        if frac.bytes().all(|b| b.is_ascii_digit()) && !int.is_empty() =>
                    {
                        int.parse::<i64>().map_err(|_| bad())?
                    }
                    _ => return Err(bad()),
                },
            };
            let (lo, hi) = t2.int_range();
            if i < lo || i > hi {
                return Err(bad());
            }
            Value::Int(i)
        }
        SqlType::Float | SqlType::Double => {
            let f: f64 = t.parse().map_err(|_| bad())?;
            if matches!(ty, SqlType::Float) {
                Value::Float(f as f32)
            } else {
                Value::Double(f)
            }
        }
        SqlType::Decimal(p, sc) => {
            let (m, from) = parse_decimal(t).ok_or_else(bad)?;
            match rescale(m, from, *sc as u32).filter(|m| fits(*m, *p)) {
                Some(m) => Value::Decimal(m, *sc),
                None => return Err(SqlError::decimal_overflow(t, *p, *sc)),
            }
        }
        SqlType::Date => Value::Date(parse_date(t).ok_or_else(bad)?),
        SqlType::Timestamp => Value::Timestamp(parse_timestamp(t).ok_or_else(bad)?),
        _ => return Err(bad()),
    })
}

/// SQL `LIKE` with `%`, `_` and `\` as the escape character.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let mut p: Vec<(char, bool)> = Vec::new(); // (char, is_literal)
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => p.push((it.next().unwrap_or('\\'), true)),
            c => p.push((c, false)),
        }
    }
    // dp[j]: pattern prefix of length j matches text prefix of length i.
    let mut dp = vec![false; p.len() + 1];
    dp[0] = true;
    for j in 1..=p.len() {
        dp[j] = dp[j - 1] && p[j - 1] == ('%', false);
    }
    for &tc in &t {
        let mut next = vec![false; p.len() + 1];
        for j in 1..=p.len() {
            next[j] = match p[j - 1] {
                ('%', false) => next[j - 1] || dp[j],
                ('_', false) => dp[j - 1],
                (c, _) => dp[j - 1] && c == tc,
            };
        }
        dp = next;
    }
    dp[p.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_databricks() {
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(fmt_decimal(1250, 2), "12.50");
        assert_eq!(fmt_decimal(-1, 2), "-0.01");
        let ts = parse_timestamp("2026-11-24 08:00:00").unwrap();
        assert_eq!(fmt_timestamp_iso(ts), "2026-11-24T08:00:00.000Z");
        assert_eq!(
            fmt_timestamp_iso(parse_timestamp("2026-11-24T10:00:00.5+02:00").unwrap()),
            "2026-11-24T08:00:00.500Z"
        );
        assert_eq!(fmt_date(parse_date("2024-2-3").unwrap()), "2024-02-03");
        assert!(parse_date("2024-02-30").is_none());
        assert_eq!(fmt_date(parse_date("1969-12-31").unwrap()), "1969-12-31");
    }

    #[test]
    fn casts_and_compares() {
        assert!(matches!(
            cast(&Value::Str("1.005".into()), &SqlType::Decimal(10, 2)).unwrap(),
            Value::Decimal(101, 2)
        ));
        assert_eq!(
            cast(&Value::Str("abc".into()), &SqlType::Int)
                .unwrap_err()
                .error_class,
            "CAST_INVALID_INPUT"
        );
        assert_eq!(
            cast(&Value::Int(3_000_000_000), &SqlType::Int)
                .unwrap_err()
                .error_class,
            "CAST_OVERFLOW"
        );
        assert!(like("pump-01", "pump%"));
        assert!(like("a_c", "a\\_c"));
        assert!(!like("abc", "a\\_c"));
    }
}

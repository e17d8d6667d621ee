//! The Databricks SQL functions DataFusion lacks: the Spark-compatible ones of
//! `datafusion-spark` registered add-only (its versions of native functions such as
//! `date_trunc` change nullability and break `UNION` plans, so a native function wins, except
//! `concat`, whose NULL handling differs),
//! and the few neither has that the demo's pipeline and Genie SQL use: `timestamp_micros`,
//! `timestamp_millis`, `date_format` (Spark's datetime patterns), `regexp_extract`, `split`, `element_at` (1-based, negative from the end,
//! maps by key), `div` (what `a DIV b` is parsed into), `max_by`/`min_by` and the
//! `percentile_approx` alias.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListBuilder, StringBuilder};
use deltalake::arrow::compute::{cast, kernels::numeric};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use deltalake::datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use deltalake::datafusion::execution::FunctionRegistry;
use deltalake::datafusion::execution::session_state::SessionState;
use deltalake::datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf;
use deltalake::datafusion::functions_nested::extract::array_element_udf;
use deltalake::datafusion::functions_nested::map_extract::map_extract_udf;
use deltalake::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use deltalake::datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use deltalake::datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use deltalake::datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, ColumnarValue, Expr, Operator,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Registers the Spark functions DataFusion does not have, then the lake's own.
pub(crate) fn register(state: &mut SessionState) -> Result<()> {
    let have_scalar = state.udfs();
    for f in datafusion_spark::all_default_scalar_functions() {
        let clashes =
            have_scalar.contains(f.name()) || f.aliases().iter().any(|a| have_scalar.contains(a));
        if !clashes {
            state.register_udf(f)?;
        }
    }
    // Except `concat`, whose native version skips NULL arguments: Spark's is NULL when any
    // argument is, and a silently different string is worse than a plan error.
    state.register_udf(Arc::new(ScalarUDF::from(
        datafusion_spark::function::string::concat::SparkConcat::new(),
    )))?;
    let have_aggregate = state.udafs();
    for f in datafusion_spark::all_default_aggregate_functions() {
        if !have_aggregate.contains(f.name()) {
            state.register_udaf(f)?;
        }
    }
    for f in [
        ScalarUDF::from(EpochToTimestamp::new(
            "timestamp_micros",
            TimeUnit::Microsecond,
        )),
        ScalarUDF::from(EpochToTimestamp::new(
            "timestamp_millis",
            TimeUnit::Millisecond,
        )),
        ScalarUDF::from(RegexpExtract::default()),
        ScalarUDF::from(Split::default()),
        ScalarUDF::from(ElementAt::default()),
        ScalarUDF::from(IntegralDivide::default()),
        ScalarUDF::from(Divide::default()),
        ScalarUDF::from(DateFormat::default()),
    ] {
        state.register_udf(Arc::new(f))?;
    }
    state.register_udaf(Arc::new(AggregateUDF::from(ExtremeBy::new(true))))?;
    state.register_udaf(Arc::new(AggregateUDF::from(ExtremeBy::new(false))))?;
    let percentile = approx_percentile_cont_udaf()
        .as_ref()
        .clone()
        .with_aliases(["percentile_approx"]);
    state.register_udaf(Arc::new(percentile))?;
    Ok(())
}

/// `timestamp_micros(n)` / `timestamp_millis(n)`: epoch counts to a UTC TIMESTAMP.
#[derive(Debug, PartialEq, Eq, Hash)]
struct EpochToTimestamp {
    name: &'static str,
    unit: TimeUnit,
    signature: Signature,
}

impl EpochToTimestamp {
    fn new(name: &'static str, unit: TimeUnit) -> EpochToTimestamp {
        EpochToTimestamp {
            name,
            unit,
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for EpochToTimestamp {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(utc_micros())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let counts = args.args[0].to_array(args.number_rows)?;
        // Int64 -> Timestamp(unit) reinterprets the count; the second cast scales it to µs.
        let in_unit = cast(&counts, &DataType::Timestamp(self.unit, Some("UTC".into())))?;
        Ok(ColumnarValue::Array(cast(&in_unit, &utc_micros())?))
    }
}

/// Casts string-like arguments to Utf8 and integers to Int64, so one kernel serves them all.
fn coerce_text_args(name: &str, types: &[DataType], arity: &[usize]) -> Result<Vec<DataType>> {
    if !arity.contains(&types.len()) {
        return plan_err!("{name} takes {arity:?} arguments, got {}", types.len());
    }
    Ok(types
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i < 2 {
                DataType::Utf8
            } else {
                DataType::Int64
            }
        })
        .collect())
}

fn string_column(args: &ScalarFunctionArgs, i: usize) -> Result<ArrayRef> {
    let a = args.args[i].to_array(args.number_rows)?;
    Ok(cast(&a, &DataType::Utf8)?)
}

fn compile(pattern: &str) -> Result<regex::Regex> {
    regex::Regex::new(pattern).map_err(|e| DataFusionError::Execution(format!("{e}")))
}

/// `regexp_extract(s, pattern[, group])`: the group's text, `''` when the pattern does not match.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract {
    signature: Signature,
}

impl Default for RegexpExtract {
    fn default() -> Self {
        RegexpExtract {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_text_args(self.name(), types, &[2, 3])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = string_column(&args, 0)?;
        let patterns = string_column(&args, 1)?;
        let groups = match args.args.get(2) {
            Some(g) => cast(&g.to_array(args.number_rows)?, &DataType::Int64)?,
            None => Arc::new(Int64Array::from(vec![1; args.number_rows])),
        };
        let (text, patterns, groups) = (
            text.as_string::<i32>(),
            patterns.as_string::<i32>(),
            groups.as_primitive::<deltalake::arrow::datatypes::Int64Type>(),
        );
        let mut cached: Option<(String, regex::Regex)> = None;
        let mut out = StringBuilder::new();
        for i in 0..text.len() {
            if text.is_null(i) || patterns.is_null(i) || groups.is_null(i) {
                out.append_null();
                continue;
            }
            let pattern = patterns.value(i);
            if cached.as_ref().is_none_or(|(p, _)| p != pattern) {
                cached = Some((pattern.to_string(), compile(pattern)?));
            }
            let re = &cached.as_ref().expect("just cached").1;
            let group = groups.value(i);
            if group < 0 || group as usize >= re.captures_len() {
                return exec_err!(
                    "[INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX] The regex group index {group} must be between 0 and {}.",
                    re.captures_len() - 1
                );
            }
            let found = re
                .captures(text.value(i))
                .and_then(|c| c.get(group as usize))
                .map_or("", |m| m.as_str());
            out.append_value(found);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `split(s, regex[, limit])`: an ARRAY<STRING> of the parts (Spark splits on a regex).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Split {
    signature: Signature,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Split {
    fn name(&self) -> &str {
        "split"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_text_args(self.name(), types, &[2, 3])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = string_column(&args, 0)?;
        let patterns = string_column(&args, 1)?;
        let limits = match args.args.get(2) {
            Some(g) => cast(&g.to_array(args.number_rows)?, &DataType::Int64)?,
            None => Arc::new(Int64Array::from(vec![-1; args.number_rows])),
        };
        let (text, patterns, limits) = (
            text.as_string::<i32>(),
            patterns.as_string::<i32>(),
            limits.as_primitive::<deltalake::arrow::datatypes::Int64Type>(),
        );
        let mut cached: Option<(String, regex::Regex)> = None;
        let mut out = ListBuilder::new(StringBuilder::new());
        for i in 0..text.len() {
            if text.is_null(i) || patterns.is_null(i) {
                out.append_null();
                continue;
            }
            let pattern = patterns.value(i);
            if cached.as_ref().is_none_or(|(p, _)| p != pattern) {
                cached = Some((pattern.to_string(), compile(pattern)?));
            }
            let re = &cached.as_ref().expect("just cached").1;
            let limit = if limits.is_null(i) {
                -1
            } else {
                limits.value(i)
            };
            if limit > 0 {
                for part in re.splitn(text.value(i), limit as usize) {
                    out.values().append_value(part);
                }
            } else {
                for part in re.split(text.value(i)) {
                    out.values().append_value(part);
                }
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `element_at(array, i)` (1-based, negative counts from the end) and `element_at(map, key)`
/// (the value, not a list of values as DataFusion's alias of `map_extract` gives).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ElementAt {
    signature: Signature,
}

impl Default for ElementAt {
    fn default() -> Self {
        ElementAt {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        "element_at"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        match &types[0] {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                Ok(f.data_type().clone())
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => plan_err!("element_at: unexpected map entries {other}"),
            },
            other => plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] element_at needs an ARRAY or a MAP, got {other}"
            ),
        }
    }
    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let (key, container) = (args.pop(), args.pop());
        let (Some(key), Some(container)) = (key, container) else {
            return plan_err!("element_at takes 2 arguments");
        };
        Ok(ExprSimplifyResult::Simplified(
            match info.get_data_type(&container)? {
                DataType::Map(..) => array_element_udf().call(vec![
                    map_extract_udf().call(vec![container, key]),
                    lit(1i64),
                ]),
                _ => array_element_udf().call(vec![container, key]),
            },
        ))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Reached only when a plan is run unoptimised; lists delegate to the native kernel.
        match args.arg_fields[0].data_type() {
            DataType::Map(..) => exec_err!("element_at on a MAP needs the optimiser's rewrite"),
            _ => array_element_udf().invoke_with_args(args),
        }
    }
}

/// `a DIV b`: integral division truncating toward zero, BIGINT.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntegralDivide {
    signature: Signature,
}

impl Default for IntegralDivide {
    fn default() -> Self {
        IntegralDivide {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IntegralDivide {
    fn name(&self) -> &str {
        "div"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        let b = args.args[1].to_array(args.number_rows)?;
        let both_integral = a.data_type().is_integer() && b.data_type().is_integer();
        let quotient: ArrayRef = if both_integral {
            let (a, b) = (cast(&a, &DataType::Int64)?, cast(&b, &DataType::Int64)?);
            if b.as_primitive::<deltalake::arrow::datatypes::Int64Type>()
                .iter()
                .any(|v| v == Some(0))
            {
                return exec_err!("[DIVIDE_BY_ZERO] Division by zero.");
            }
            numeric::div(&a, &b)?
        } else {
            let (a, b) = (cast(&a, &DataType::Float64)?, cast(&b, &DataType::Float64)?);
            let q = numeric::div(&a, &b)?;
            let truncated: deltalake::arrow::array::Float64Array = q
                .as_primitive::<deltalake::arrow::datatypes::Float64Type>()
                .iter()
                .map(|v| v.map(f64::trunc))
                .collect();
            cast(&truncated, &DataType::Int64)?
        };
        Ok(ColumnarValue::Array(quotient))
    }
}

/// `a / b` as Databricks computes it: DOUBLE unless a DECIMAL is involved (then DataFusion's
/// decimal division, whose result type is the same as Spark's in the common cases).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Divide {
    signature: Signature,
}

impl Default for Divide {
    fn default() -> Self {
        Divide {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn is_decimal(t: &DataType) -> bool {
    matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn decimal_division(l: &DataType, r: &DataType) -> bool {
    (is_decimal(l) || is_decimal(r))
        && (is_decimal(l) || l.is_integer())
        && (is_decimal(r) || r.is_integer())
}

impl ScalarUDFImpl for Divide {
    fn name(&self) -> &str {
        "__lake_divide"
    }
    fn display_name(&self, args: &[Expr]) -> Result<String> {
        Ok(format!("({} / {})", args[0], args[1]))
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(format!(
            "({} / {})",
            args[0].schema_name(),
            args[1].schema_name()
        ))
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        let (l, r) = (&types[0], &types[1]);
        if decimal_division(l, r) {
            BinaryTypeCoercer::new(l, &Operator::Divide, r).get_result_type()
        } else {
            Ok(DataType::Float64)
        }
    }
    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let l = info.get_data_type(&args[0])?;
        let r = info.get_data_type(&args[1])?;
        if !decimal_division(&l, &r) {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let (right, left) = (args.pop(), args.pop());
        let (Some(left), Some(right)) = (left, right) else {
            return plan_err!("/ takes 2 operands");
        };
        Ok(ExprSimplifyResult::Simplified(Expr::BinaryExpr(
            BinaryExpr::new(Box::new(left), Operator::Divide, Box::new(right)),
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if decimal_division(
            args.arg_fields[0].data_type(),
            args.arg_fields[1].data_type(),
        ) {
            return exec_err!("decimal division is planned as a native expression");
        }
        let a = cast(
            &args.args[0].to_array(args.number_rows)?,
            &DataType::Float64,
        )?;
        let b = cast(
            &args.args[1].to_array(args.number_rows)?,
            &DataType::Float64,
        )?;
        if b.as_primitive::<deltalake::arrow::datatypes::Float64Type>()
            .iter()
            .any(|v| v == Some(0.0))
        {
            return exec_err!("[DIVIDE_BY_ZERO] Division by zero.");
        }
        Ok(ColumnarValue::Array(numeric::div(&a, &b)?))
    }
}

/// `max_by(v, ord)` / `min_by(v, ord)`: the value of the row with the largest (smallest)
/// ordering; rows with a NULL ordering are skipped, the first row wins a tie.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExtremeBy {
    max: bool,
    signature: Signature,
}

impl ExtremeBy {
    fn new(max: bool) -> ExtremeBy {
        ExtremeBy {
            max,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ExtremeBy {
    fn name(&self) -> &str {
        if self.max { "max_by" } else { "min_by" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        Ok(types[0].clone())
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                "value",
                args.input_fields[0].data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                "ord",
                args.input_fields[1].data_type().clone(),
                true,
            )),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let value_type = args.exprs[0].data_type(args.schema)?;
        let ord_type = args.exprs[1].data_type(args.schema)?;
        Ok(Box::new(ExtremeByAccumulator {
            max: self.max,
            value: ScalarValue::try_from(&value_type)?,
            ord: ScalarValue::try_from(&ord_type)?,
        }))
    }
}

#[derive(Debug)]
struct ExtremeByAccumulator {
    max: bool,
    value: ScalarValue,
    ord: ScalarValue,
}

impl Accumulator for ExtremeByAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (v, o) = (&values[0], &values[1]);
        for i in (0..o.len()).filter(|&i| !o.is_null(i)) {
            let ord = ScalarValue::try_from_array(o, i)?;
            let better = self.ord.is_null()
                || ord
                    .partial_cmp(&self.ord)
                    .is_some_and(|c| if self.max { c.is_gt() } else { c.is_lt() });
            if better {
                self.ord = ord;
                self.value = ScalarValue::try_from_array(v, i)?;
            }
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value.clone(), self.ord.clone()])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }
    fn size(&self) -> usize {
        size_of_val(self) + self.value.size() + self.ord.size()
    }
}

/// `date_format(ts, 'yyyy-MM-dd HH:mm')`: Spark's datetime pattern letters, which DataFusion's
/// own `date_format` (an alias of `to_char`, with chrono's `%Y-%m-%d`) would print literally.
/// The pattern is translated once when the query is planned, so it must be a constant.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFormat {
    signature: Signature,
}

impl Default for DateFormat {
    fn default() -> Self {
        DateFormat {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &str {
        "date_format"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn simplify(&self, mut args: Vec<Expr>, _: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let (pattern, value) = (args.pop(), args.pop());
        let (Some(pattern), Some(value)) = (pattern, value) else {
            return plan_err!("date_format takes 2 arguments");
        };
        let Expr::Literal(ScalarValue::Utf8(Some(pattern)), _) = pattern else {
            return plan_err!(
                "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] date_format needs a constant pattern"
            );
        };
        let chrono = match spark_pattern_to_chrono(&pattern) {
            Ok(chrono) => chrono,
            Err(letter) => {
                return plan_err!(
                    "[INVALID_PARAMETER_VALUE.PATTERN] Illegal pattern character '{letter}' in '{pattern}'"
                );
            }
        };
        Ok(ExprSimplifyResult::Simplified(
            deltalake::datafusion::functions::datetime::to_char().call(vec![value, lit(chrono)]),
        ))
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("date_format needs the optimiser's rewrite")
    }
}

/// Spark's (Java's) datetime pattern as a chrono format string, or the letter it does not know.
fn spark_pattern_to_chrono(pattern: &str) -> std::result::Result<String, char> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'text' is literal; '' is a quote.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) != Some(&'\'') {
                        break;
                    }
                    j += 1;
                }
                if chars[j] == '%' {
                    out.push('%');
                }
                out.push(chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push('%');
            }
            out.push(c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let piece = match (c, run) {
            ('y', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M' | 'L', 1) => "%-m",
            ('M' | 'L', 2) => "%m",
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('z', _) => "%Z",
            ('X' | 'x' | 'Z', 1..=2) => "%z",
            ('X' | 'x' | 'Z', _) => "%:z",
            _ => return Err(c),
        };
        out.push_str(piece);
        i += run;
    }
    Ok(out)
}

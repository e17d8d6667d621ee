//! The embedded Python interpreter (RustPython 0.5.0, parser and compiler only: scripts cannot
//! import `os`, open files or sockets) and the native modules it is built with: `_gw`, the
//! bridge to the gateway (tags, loggers, the clock, random generators), and `math`. Two Python
//! preludes run once per interpreter: `_gateway` (`gateway.py`: the `system.*` objects,
//! `QualifiedValue`, `QualityCode`, `Date`, loggers) and `random` (`random.py`, CPython's
//! algorithms over `_gw`'s generator; CPython's own module imports `os`).
//!
//! The interpreter is `!Send`: a [`Host`] is created and used on the gateway's script thread
//! only. `_gw` reaches the gateway through a thread-local [`ScriptContext`] set on that thread,
//! because native functions cannot capture state.

use std::cell::RefCell;
use std::collections::HashMap;

use rustpython_vm::builtins::{PyBaseExceptionRef, PyFloat, PyInt, PyStr};
use rustpython_vm::compiler::Mode;
use rustpython_vm::convert::ToPyObject;
use rustpython_vm::signal::{UserSignalSender, user_signal_channel};
use rustpython_vm::{AsObject, Interpreter, PyObjectRef, PyResult, VirtualMachine};
use serde_json::Value;

use super::super::Shared;
use super::super::live_tags::TagValue;
use super::log::{Level, emit};

const GATEWAY_PY: &str = include_str!("gateway.py");
const RANDOM_PY: &str = include_str!("random.py");

/// What `_gw` works on: the gateway and the random generators.
pub struct ScriptContext {
    pub gateway: Shared,
    /// A fixed seed: every generator starts from it (deterministic mode); else from entropy.
    pub seed: Option<u64>,
    generators: Vec<Xoshiro>,
}

thread_local! {
    static CONTEXT: RefCell<Option<ScriptContext>> = const { RefCell::new(None) };
}

/// Makes `gateway` the one `_gw` works on, on this thread.
pub fn set_context(gateway: Shared, seed: Option<u64>) {
    CONTEXT.with(|c| {
        *c.borrow_mut() = Some(ScriptContext {
            gateway,
            seed,
            generators: Vec::new(),
        })
    });
}

/// Drops this thread's context (and with it the gateway handle).
pub fn clear_context() {
    CONTEXT.with(|c| c.borrow_mut().take());
}

fn with_context<R>(
    vm: &VirtualMachine,
    f: impl FnOnce(&mut ScriptContext) -> PyResult<R>,
) -> PyResult<R> {
    CONTEXT.with(|c| match c.borrow_mut().as_mut() {
        Some(context) => f(context),
        None => Err(vm.new_runtime_error("the gateway bridge is not available on this thread")),
    })
}

// ---------------------------------------------------------------------------------------------
// Random numbers: xoshiro256** seeded by splitmix64 (what CPython's Mersenne Twister is for
// its `random`; the sequences differ, the distributions do not)

#[derive(Debug, Clone)]
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn seeded(seed: u64) -> Xoshiro {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Xoshiro([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

/// A seed from the operating system's randomness (through a v4 UUID).
fn entropy() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// The seed of the `index`-th generator: the fixed seed mixed with the index, or entropy.
fn generator_seed(context: &ScriptContext, index: u64) -> u64 {
    match context.seed {
        Some(seed) => seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        None => entropy(),
    }
}

// ---------------------------------------------------------------------------------------------
// Values between Python and the tag table

fn value_to_py(value: &TagValue, vm: &VirtualMachine) -> PyObjectRef {
    match value {
        TagValue::Null => vm.ctx.none(),
        TagValue::Bool(b) => vm.ctx.new_bool(*b).into(),
        TagValue::Int(i) | TagValue::DateTime(i) => vm.ctx.new_int(*i).into(),
        TagValue::Float(f) => vm.ctx.new_float(*f).into(),
        TagValue::Text(s) => vm.ctx.new_str(s.as_str()).into(),
        TagValue::Document(v) => json_to_py(v, vm),
    }
}

fn json_to_py(value: &Value, vm: &VirtualMachine) -> PyObjectRef {
    match value {
        Value::Null => vm.ctx.none(),
        Value::Bool(b) => vm.ctx.new_bool(*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => vm.ctx.new_int(i).into(),
            None => vm.ctx.new_float(n.as_f64().unwrap_or(f64::NAN)).into(),
        },
        Value::String(s) => vm.ctx.new_str(s.as_str()).into(),
        Value::Array(items) => vm
            .ctx
            .new_list(items.iter().map(|v| json_to_py(v, vm)).collect())
            .into(),
        Value::Object(object) => {
            let dict = vm.ctx.new_dict();
            for (key, value) in object {
                let _ = dict.set_item(key.as_str(), json_to_py(value, vm), vm);
            }
            dict.into()
        }
    }
}

/// A value a script writes. `bool` is checked before `int`: a Python `bool` is an `int`.
fn value_from_py(object: &PyObjectRef, vm: &VirtualMachine) -> PyResult<TagValue> {
    Ok(if vm.is_none(object) {
        TagValue::Null
    } else if object.class().is(vm.ctx.types.bool_type) {
        TagValue::Bool(object.clone().try_to_bool(vm)?)
    } else if let Some(f) = object.downcast_ref::<PyFloat>() {
        TagValue::Float(f.to_f64())
    } else if let Some(i) = object.downcast_ref::<PyInt>() {
        match i.try_to_primitive::<i64>(vm) {
            Ok(i) => TagValue::Int(i),
            // Beyond 64 bits: what a Java tag could hold of it is a double.
            Err(_) => TagValue::Float(object.try_float(vm)?.to_f64()),
        }
    } else if let Some(s) = object.downcast_ref::<PyStr>() {
        TagValue::Text(s.to_string_lossy().into_owned())
    } else {
        TagValue::Text(object.str(vm)?.to_string_lossy().into_owned())
    })
}

fn strings(object: PyObjectRef, vm: &VirtualMachine) -> PyResult<Vec<String>> {
    let items: Vec<PyObjectRef> = object.try_to_value(vm)?;
    items
        .iter()
        .map(|item| Ok(item.str(vm)?.to_string_lossy().into_owned()))
        .collect()
}

/// `Tue Dec 08 12:00:00 UTC 2026`: Java's `Date.toString()` in the gateway's zone (UTC).
fn java_date(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] UTC [year]"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[rustpython_vm::pymodule]
mod _gw {
    use rustpython_vm::{PyObjectRef, PyResult, VirtualMachine};

    use super::super::super::live_tags::quality;

    /// `[(value, quality code, timestamp ms, is a date)]` for each path.
    #[pyfunction]
    fn read(paths: PyObjectRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let paths = super::strings(paths, vm)?;
        let reads = super::with_context(vm, |c| Ok(c.gateway.read_tags(&paths)))?;
        let items = reads
            .iter()
            .map(|read| {
                let is_date = read.data_type.as_deref() == Some("DateTime");
                vm.ctx
                    .new_tuple(vec![
                        super::value_to_py(&read.value, vm),
                        vm.ctx.new_int(read.quality).into(),
                        vm.ctx.new_int(read.timestamp_ms).into(),
                        vm.ctx.new_bool(is_date).into(),
                    ])
                    .into()
            })
            .collect();
        Ok(vm.ctx.new_list(items).into())
    }

    /// The quality code of each write.
    #[pyfunction]
    fn write(
        paths: PyObjectRef,
        values: PyObjectRef,
        vm: &VirtualMachine,
    ) -> PyResult<PyObjectRef> {
        let paths = super::strings(paths, vm)?;
        let values: Vec<PyObjectRef> = values.try_to_value(vm)?;
        if paths.len() != values.len() {
            return Err(vm.new_value_error(format!(
                "writeBlocking got {} tag paths and {} values",
                paths.len(),
                values.len()
            )));
        }
        let mut writes = Vec::with_capacity(paths.len());
        for (path, value) in paths.into_iter().zip(&values) {
            writes.push((path, super::value_from_py(value, vm)?));
        }
        let codes = super::with_context(vm, |c| Ok(c.gateway.write_tags(&writes)))?;
        Ok(vm
            .ctx
            .new_list(
                codes
                    .into_iter()
                    .map(|c| vm.ctx.new_int(c).into())
                    .collect(),
            )
            .into())
    }

    #[pyfunction]
    fn quality_name(code: i32) -> String {
        quality::name(code)
    }

    #[pyfunction]
    fn log(level: String, logger: String, message: String, vm: &VirtualMachine) -> PyResult<()> {
        let level = super::Level::parse(&level)
            .ok_or_else(|| vm.new_value_error(format!("unknown log level {level}")))?;
        super::with_context(vm, |c| {
            super::emit(&c.gateway, level, &logger, &message);
            Ok(())
        })
    }

    /// The gateway clock, in milliseconds since the epoch.
    #[pyfunction]
    fn now_ms(vm: &VirtualMachine) -> PyResult<i64> {
        super::with_context(vm, |c| Ok(c.gateway.clock.now_ms()))
    }

    /// The gateway clock in seconds: `time.time()` on a virtual clock.
    #[pyfunction]
    fn now(vm: &VirtualMachine) -> PyResult<f64> {
        Ok(now_ms(vm)? as f64 / 1000.0)
    }

    #[pyfunction]
    fn format_date(ms: i64) -> String {
        super::java_date(ms)
    }

    /// A new generator; its handle.
    #[pyfunction]
    fn rng_new(vm: &VirtualMachine) -> PyResult<usize> {
        super::with_context(vm, |c| {
            let index = c.generators.len();
            let seed = super::generator_seed(c, index as u64);
            c.generators.push(super::Xoshiro::seeded(seed));
            Ok(index)
        })
    }

    /// Reseeds a generator: from an int, a float, a string (stably hashed), or with `None`
    /// as it was first seeded.
    #[pyfunction]
    fn rng_seed(handle: usize, seed: PyObjectRef, vm: &VirtualMachine) -> PyResult<()> {
        let explicit = super::seed_of(&seed, vm)?;
        super::with_context(vm, |c| {
            let seed = explicit.unwrap_or_else(|| super::generator_seed(c, handle as u64));
            let generator = c
                .generators
                .get_mut(handle)
                .ok_or_else(|| vm.new_value_error("no such generator"))?;
            *generator = super::Xoshiro::seeded(seed);
            Ok(())
        })
    }

    /// A float in [0.0, 1.0).
    #[pyfunction]
    fn rng_random(handle: usize, vm: &VirtualMachine) -> PyResult<f64> {
        Ok((rng_next(handle, vm)? >> 11) as f64 * (1.0 / (1u64 << 53) as f64))
    }

    /// `k` (0..=64) random bits.
    #[pyfunction]
    fn rng_bits(handle: usize, k: u32, vm: &VirtualMachine) -> PyResult<u64> {
        if k > 64 {
            return Err(vm.new_value_error("at most 64 bits at a time"));
        }
        if k == 0 {
            return Ok(0);
        }
        Ok(rng_next(handle, vm)? >> (64 - k))
    }

    fn rng_next(handle: usize, vm: &VirtualMachine) -> PyResult<u64> {
        super::with_context(vm, |c| {
            c.generators
                .get_mut(handle)
                .map(super::Xoshiro::next_u64)
                .ok_or_else(|| vm.new_value_error("no such generator"))
        })
    }
}

/// The seed `random.seed(a)` means: `None` for "as first seeded".
fn seed_of(seed: &PyObjectRef, vm: &VirtualMachine) -> PyResult<Option<u64>> {
    Ok(match value_from_py(seed, vm)? {
        TagValue::Null => None,
        TagValue::Bool(b) => Some(u64::from(b)),
        TagValue::Int(i) => Some(i as u64),
        TagValue::Float(f) => Some(f.to_bits()),
        TagValue::Text(s) => Some(s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })),
        other => Some(other.to_json().to_string().len() as u64),
    })
}

/// `math` as Jython has it for the demo's needs: `floor`/`ceil` return floats, domain errors
/// raise `ValueError("math domain error")`.
// Python's names for the constants (`math.pi`), not Rust's.
#[allow(non_upper_case_globals)]
#[rustpython_vm::pymodule]
mod math {
    use rustpython_vm::function::{ArgIntoFloat, OptionalArg};
    use rustpython_vm::{PyResult, VirtualMachine};

    #[pyattr]
    const pi: f64 = std::f64::consts::PI;
    #[pyattr]
    const e: f64 = std::f64::consts::E;
    #[pyattr]
    const tau: f64 = std::f64::consts::TAU;
    #[pyattr]
    const inf: f64 = f64::INFINITY;
    #[pyattr]
    const nan: f64 = f64::NAN;

    fn domain(result: f64, vm: &VirtualMachine) -> PyResult<f64> {
        if result.is_nan() {
            Err(vm.new_value_error("math domain error"))
        } else {
            Ok(result)
        }
    }

    fn arg(x: ArgIntoFloat) -> f64 {
        x.into_float()
    }

    #[pyfunction]
    fn sqrt(x: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        let x = arg(x);
        if x < 0.0 {
            return Err(vm.new_value_error("math domain error"));
        }
        Ok(x.sqrt())
    }

    #[pyfunction]
    fn log(x: ArgIntoFloat, base: OptionalArg<ArgIntoFloat>, vm: &VirtualMachine) -> PyResult<f64> {
        let x = arg(x);
        if x <= 0.0 {
            return Err(vm.new_value_error("math domain error"));
        }
        match base.into_option().map(arg) {
            Some(base) if base <= 0.0 || base == 1.0 => {
                Err(vm.new_value_error("math domain error"))
            }
            Some(base) => Ok(x.ln() / base.ln()),
            None => Ok(x.ln()),
        }
    }

    #[pyfunction]
    fn log10(x: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        let x = arg(x);
        if x <= 0.0 {
            return Err(vm.new_value_error("math domain error"));
        }
        Ok(x.log10())
    }

    #[pyfunction]
    fn exp(x: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        let result = arg(x).exp();
        if result.is_infinite() {
            return Err(vm.new_overflow_error("math range error"));
        }
        Ok(result)
    }

    #[pyfunction]
    fn pow(x: ArgIntoFloat, y: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        domain(arg(x).powf(arg(y)), vm)
    }

    #[pyfunction]
    fn sin(x: ArgIntoFloat) -> f64 {
        arg(x).sin()
    }

    #[pyfunction]
    fn cos(x: ArgIntoFloat) -> f64 {
        arg(x).cos()
    }

    #[pyfunction]
    fn tan(x: ArgIntoFloat) -> f64 {
        arg(x).tan()
    }

    #[pyfunction]
    fn asin(x: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        domain(arg(x).asin(), vm)
    }

    #[pyfunction]
    fn acos(x: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        domain(arg(x).acos(), vm)
    }

    #[pyfunction]
    fn atan(x: ArgIntoFloat) -> f64 {
        arg(x).atan()
    }

    #[pyfunction]
    fn atan2(y: ArgIntoFloat, x: ArgIntoFloat) -> f64 {
        arg(y).atan2(arg(x))
    }

    #[pyfunction]
    fn hypot(x: ArgIntoFloat, y: ArgIntoFloat) -> f64 {
        arg(x).hypot(arg(y))
    }

    #[pyfunction]
    fn radians(x: ArgIntoFloat) -> f64 {
        arg(x).to_radians()
    }

    #[pyfunction]
    fn degrees(x: ArgIntoFloat) -> f64 {
        arg(x).to_degrees()
    }

    #[pyfunction]
    fn floor(x: ArgIntoFloat) -> f64 {
        arg(x).floor()
    }

    #[pyfunction]
    fn ceil(x: ArgIntoFloat) -> f64 {
        arg(x).ceil()
    }

    #[pyfunction]
    fn fabs(x: ArgIntoFloat) -> f64 {
        arg(x).abs()
    }

    #[pyfunction]
    fn fmod(x: ArgIntoFloat, y: ArgIntoFloat, vm: &VirtualMachine) -> PyResult<f64> {
        domain(arg(x) % arg(y), vm)
    }

    #[pyfunction]
    fn copysign(x: ArgIntoFloat, y: ArgIntoFloat) -> f64 {
        arg(x).copysign(arg(y))
    }

    #[pyfunction]
    fn isnan(x: ArgIntoFloat) -> bool {
        arg(x).is_nan()
    }

    #[pyfunction]
    fn isinf(x: ArgIntoFloat) -> bool {
        arg(x).is_infinite()
    }
}

// ---------------------------------------------------------------------------------------------
// The interpreter

/// One interpreter with the gateway's modules, and each project's `system` object.
pub struct Host {
    interpreter: Interpreter,
    signals: UserSignalSender,
    systems: HashMap<String, PyObjectRef>,
}

/// Runs `source` as module `name` and registers it in `sys.modules`.
fn add_py_module(vm: &VirtualMachine, name: &str, source: &str) -> PyResult<PyObjectRef> {
    let code = vm
        .compile(source, Mode::Exec, format!("<{name}>"))
        .map_err(|e| vm.new_syntax_error(&e, Some(source)))?;
    let dict = vm.ctx.new_dict();
    dict.set_item("__name__", vm.ctx.new_str(name).into(), vm)?;
    let scope = rustpython_vm::scope::Scope::with_builtins(None, dict.clone(), vm);
    vm.run_code_obj(code, scope)?;
    let module: PyObjectRef = vm.new_module(name, dict, None).into();
    vm.sys_module
        .get_attr("modules", vm)?
        .set_item(name, module.clone(), vm)?;
    Ok(module)
}

/// A Python exception as the gateway logs it: the traceback, at most [`MAX_TRACEBACK`]
/// characters (a recursion error's traceback is thousands of frames).
pub fn format_exception(vm: &VirtualMachine, error: &PyBaseExceptionRef) -> String {
    let mut text = String::new();
    if vm.write_exception(&mut text, error).is_err() {
        text = "an exception that could not be formatted".into();
    }
    let text = text.trim_end();
    if text.len() <= MAX_TRACEBACK {
        return text.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let head = lines.iter().take(7).copied().collect::<Vec<_>>().join("\n");
    let tail = lines
        .iter()
        .rev()
        .take(6)
        .rev()
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "{head}\n  ... ({} lines left out)\n{tail}",
        lines.len().saturating_sub(13)
    )
}

const MAX_TRACEBACK: usize = 4000;

impl Host {
    /// Builds the interpreter; `virtual_clock` replaces `time.time` with the gateway clock.
    pub fn new(virtual_clock: bool) -> Result<Host, String> {
        let (signals, receiver) = user_signal_channel();
        let builder = Interpreter::builder(Default::default());
        let gw = _gw::module_def(&builder.ctx);
        let math = math::module_def(&builder.ctx);
        let interpreter = builder
            .add_native_modules(&[gw, math])
            .init_hook(move |vm| vm.set_user_signal_channel(receiver))
            .build();
        interpreter.enter(|vm| -> Result<(), String> {
            let prepare = || -> PyResult<()> {
                add_py_module(vm, "random", RANDOM_PY)?;
                add_py_module(vm, "_gateway", GATEWAY_PY)?;
                if virtual_clock {
                    let time = vm.import("time", 0)?;
                    let now = vm.import("_gw", 0)?.get_attr("now", vm)?;
                    time.set_attr("time", now, vm)?;
                }
                Ok(())
            };
            prepare().map_err(|e| format_exception(vm, &e))
        })?;
        Ok(Host {
            interpreter,
            signals,
            systems: HashMap::new(),
        })
    }

    /// Where the watchdog sends the closures that interrupt a running script.
    pub fn signals(&self) -> UserSignalSender {
        self.signals.clone()
    }

    /// Compiles a gateway event script file as the gateway stores it (`def name(...)` with
    /// a tab-indented body) and returns its function. `filename` is what tracebacks name.
    pub fn load(
        &mut self,
        project: &str,
        filename: &str,
        source: &str,
        function: &str,
    ) -> Result<PyObjectRef, String> {
        let system = self.system(project)?;
        self.interpreter.enter(|vm| {
            let code = vm
                .compile(source, Mode::Exec, filename.to_string())
                .map_err(|e| format_exception(vm, &vm.new_syntax_error(&e, Some(source))))?;
            let run = || -> PyResult<PyObjectRef> {
                let namespace = vm.ctx.new_dict();
                namespace.set_item("system", system.clone(), vm)?;
                namespace.set_item("__name__", vm.ctx.new_str(filename).into(), vm)?;
                let scope = rustpython_vm::scope::Scope::with_builtins(None, namespace.clone(), vm);
                vm.run_code_obj(code, scope)?;
                namespace.get_item(function, vm)
            };
            run().map_err(|e| format_exception(vm, &e))
        })
    }

    /// The project's `system` object (its own `getGlobals()` dictionary), made on first use.
    fn system(&mut self, project: &str) -> Result<PyObjectRef, String> {
        if let Some(system) = self.systems.get(project) {
            return Ok(system.clone());
        }
        let system = self.interpreter.enter(|vm| {
            let make = || -> PyResult<PyObjectRef> {
                let gateway = vm.import("_gateway", 0)?;
                gateway
                    .get_attr("make_system", vm)?
                    .call((vm.ctx.new_str(project),), vm)
            };
            make().map_err(|e| format_exception(vm, &e))
        })?;
        self.systems.insert(project.to_string(), system.clone());
        Ok(system)
    }

    /// Calls a timer script's function; the error is the formatted traceback.
    pub fn call_timer(&self, function: &PyObjectRef) -> Result<(), String> {
        self.interpreter.enter(|vm| {
            function
                .call((), vm)
                .map(drop)
                .map_err(|e| format_exception(vm, &e))
        })
    }

    /// Calls a tag change script's `onTagChange(initialChange, newValue, previousValue,
    /// event, executionCount)`.
    pub fn call_tag_change(
        &self,
        function: &PyObjectRef,
        change: &TagChangeCall<'_>,
    ) -> Result<(), String> {
        self.interpreter.enter(|vm| {
            let call = || -> PyResult<()> {
                let gateway = vm.import("_gateway", 0)?;
                let qualified = |value: &Option<(TagValue, i32, i64)>| -> PyResult<PyObjectRef> {
                    match value {
                        None => Ok(vm.ctx.none()),
                        Some((value, quality, timestamp)) => {
                            gateway.get_attr("make_qualified", vm)?.call(
                                (value_to_py(value, vm), *quality, *timestamp, change.is_date),
                                vm,
                            )
                        }
                    }
                };
                let new_value = qualified(&Some(change.new.clone()))?;
                let previous = qualified(&change.previous)?;
                let event = gateway.get_attr("TagChangeEvent", vm)?.call(
                    (
                        vm.ctx.new_str(change.path),
                        new_value.clone(),
                        previous.clone(),
                        change.initial,
                    ),
                    vm,
                )?;
                function.call(
                    (
                        change.initial.to_pyobject(vm),
                        new_value,
                        previous,
                        event,
                        change.execution_count.to_pyobject(vm),
                    ),
                    vm,
                )?;
                Ok(())
            };
            call().map_err(|e| format_exception(vm, &e))
        })
    }
}

/// The arguments of one tag change script call.
pub struct TagChangeCall<'a> {
    pub path: &'a str,
    pub new: (TagValue, i32, i64),
    pub previous: Option<(TagValue, i32, i64)>,
    pub is_date: bool,
    pub initial: bool,
    pub execution_count: u64,
}

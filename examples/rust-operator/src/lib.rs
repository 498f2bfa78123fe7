//! A Rust operator using the same C ABI as a C operator (`dora_api/include/operator_api.h`):
//! counts its `time` inputs and sends the count (as decimal text) on `counter`.
//!
//! No dependencies: the three functions are exported with `#[no_mangle] extern "C"`.
//! A panic never crosses into the runtime: it becomes a non-zero return code.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `dora_output_fn`: `int (*)(const char *id, unsigned id_len, const char *data,
/// unsigned data_len, const void *output_context)`.
pub type OutputFn = unsafe extern "C" fn(
    id: *const c_char,
    id_len: c_uint,
    data: *const c_char,
    data_len: c_uint,
    output_context: *const c_void,
) -> c_int;

struct Operator {
    inputs: u64,
}

impl Operator {
    fn on_input(&mut self, id: &[u8], _data: &[u8], send: &mut dyn FnMut(&str, &[u8]) -> bool) -> c_int {
        if id == b"time" {
            self.inputs += 1;
            let out = self.inputs.to_string();
            if !send("counter", out.as_bytes()) {
                eprintln!("rust operator: failed to send output `counter`");
                return 1;
            }
        }
        0
    }
}

/// # Safety
/// `operator_context` must be a valid pointer to write the operator's state to.
#[no_mangle]
pub unsafe extern "C" fn dora_init_operator(operator_context: *mut *mut c_void) -> c_int {
    if operator_context.is_null() {
        return 1;
    }
    let state = Box::new(Operator { inputs: 0 });
    *operator_context = Box::into_raw(state) as *mut c_void;
    0
}

/// # Safety
/// `operator_context` must come from `dora_init_operator` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn dora_drop_operator(operator_context: *mut c_void) {
    if operator_context.is_null() {
        return;
    }
    let state = Box::from_raw(operator_context as *mut Operator);
    println!("rust operator: dropped after {} inputs", state.inputs);
}

/// # Safety
/// Pointers and lengths as documented in `operator_api.h`; `operator_context` comes from
/// `dora_init_operator`.
#[no_mangle]
pub unsafe extern "C" fn dora_on_input(
    id: *const c_char,
    id_len: c_uint,
    data: *const c_char,
    data_len: c_uint,
    output_fn: Option<OutputFn>,
    output_context: *mut c_void,
    operator_context: *const c_void,
) -> c_int {
    if operator_context.is_null() || id.is_null() {
        return 1;
    }
    let Some(output_fn) = output_fn else { return 1 };
    let id = std::slice::from_raw_parts(id as *const u8, id_len as usize);
    let data = if data.is_null() || data_len == 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(data as *const u8, data_len as usize)
    };
    let state = &mut *(operator_context as *mut Operator);
    let mut send = |output: &str, bytes: &[u8]| {
        output_fn(
            output.as_ptr() as *const c_char,
            output.len() as c_uint,
            bytes.as_ptr() as *const c_char,
            bytes.len() as c_uint,
            output_context,
        ) == 0
    };
    catch_unwind(AssertUnwindSafe(|| state.on_input(id, data, &mut send))).unwrap_or(2)
}

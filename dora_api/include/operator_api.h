/*
 * dora operator C ABI: what a shared-library operator exports.
 *
 * The same three functions as the original dora C operator API, so an operator written
 * for it builds unchanged:
 *
 *     cc -shared -fPIC -O2 -I<path to dora_api/include> -o operator.so operator.c
 *
 * A Rust operator exports the same symbols from a `cdylib` crate (see
 * examples/rust-operator). The runtime node (`python -m dora_api.runtime`) loads the library,
 * calls `dora_init_operator` once, `dora_on_input` for every input of the operator, and
 * `dora_drop_operator` once on every orderly exit. All calls come from one thread.
 *
 * Return codes: 0 means success. A non-zero return from `dora_init_operator` or
 * `dora_on_input` is an error: the runtime node stops with a one-line message naming the
 * operator and the library, and its supervisor handles the failure like any node's crash
 * (the restart policy applies).
 */
#ifndef DORA_OPERATOR_API_H
#define DORA_OPERATOR_API_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define DORA_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define DORA_EXPORT __attribute__((visibility("default")))
#else
#define DORA_EXPORT
#endif

/*
 * Sends `data` (`data_len` bytes) on the operator's output `id` (`id_len` bytes, not
 * NUL-terminated; the output id as declared under the operator's `outputs:`).
 * Pass back the `output_context` given to `dora_on_input`. The data is copied before the call
 * returns. Returns 0 on success, non-zero on failure (for example an undeclared output).
 * Only valid during the `dora_on_input` call that received `output_context`.
 */
typedef int (*dora_output_fn)(const char *id, unsigned int id_len, const char *data,
                              unsigned int data_len, const void *output_context);

/*
 * Creates the operator's state and stores a pointer to it in `*operator_context` (it may
 * stay NULL). Returns 0 on success; anything else fails the runtime node.
 */
DORA_EXPORT int dora_init_operator(void **operator_context);

/* Frees what `dora_init_operator` created. Called exactly once, on every orderly exit. */
DORA_EXPORT void dora_drop_operator(void *operator_context);

/*
 * Handles one input: `id` is the operator-local input id (`id_len` bytes, not
 * NUL-terminated) and `data` its payload (`data_len` bytes, valid only during the call).
 * Send outputs with `output_fn(out_id, out_id_len, out_data, out_data_len, output_context)`.
 * Returns 0 on success; anything else fails the runtime node.
 */
DORA_EXPORT int dora_on_input(const char *id, unsigned int id_len, const char *data,
                              unsigned int data_len, dora_output_fn output_fn,
                              void *output_context, const void *operator_context);

#ifdef __cplusplus
}
#endif

#endif /* DORA_OPERATOR_API_H */

/*
 * A C operator: counts its `time` inputs and sends the count (as decimal text) on `counter`.
 *
 * Build:  make -C examples/c-operator     (cc -shared -fPIC ... -o operator.so operator.c)
 * Use:    operators: [{id: op-c, shared-library: c-operator/operator.so,
 *                      inputs: {time: timer/time}, outputs: [counter]}]
 */
#include "operator_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned long inputs;
} counter_state;

int dora_init_operator(void **operator_context)
{
    counter_state *state = calloc(1, sizeof(counter_state));
    if (state == NULL)
        return 1;
    *operator_context = state;
    return 0;
}

void dora_drop_operator(void *operator_context)
{
    counter_state *state = operator_context;
    printf("c operator: dropped after %lu inputs\n", state->inputs);
    free(state);
}

int dora_on_input(const char *id, unsigned int id_len, const char *data, unsigned int data_len,
                  dora_output_fn output_fn, void *output_context, const void *operator_context)
{
    counter_state *state = (counter_state *)operator_context;
    (void)data;
    (void)data_len;

    if (id_len == strlen("time") && memcmp(id, "time", id_len) == 0) {
        state->inputs += 1;
        char out[32];
        int len = snprintf(out, sizeof(out), "%lu", state->inputs);
        const char *out_id = "counter";
        if (output_fn(out_id, (unsigned int)strlen(out_id), out, (unsigned int)len,
                      output_context) != 0) {
            fprintf(stderr, "c operator: failed to send output `counter`\n");
            return 1;
        }
    }
    return 0;
}

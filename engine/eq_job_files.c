/* eq_job_files.c - tensors a job reads from files: its input and its
 * .npy references. Safetensors come from eq_safetensors.h. */
#include <string.h>

#include "eq_checks.h"
#include "eq_npy.h"
#include "eq_safetensors.h"

eq_status eq_job_load_npy(eq_arena *arena, const char *path, eq_tensor **out, eq_error *err)
{
    eq_status st = eq_npy_read_file(path, arena, out, err);
    if (st != EQ_OK)
        eq_error_prefix(err, "%s: ", path);
    return st;
}

eq_status eq_job_load_input_file(eq_arena *arena, const eq_job_input *in, eq_tensor **out,
                                 eq_error *err)
{
    eq_tensor *t = NULL;
    eq_status st;
    if (in->kind == EQ_INPUT_NPY) {
        if ((st = eq_job_load_npy(arena, in->file, &t, err)) != EQ_OK)
            return st;
    } else {
        const eq_safetensors *f;
        if ((st = eq_safetensors_read_file(in->file, 0, arena, &f, err)) != EQ_OK)
            return st;
        const eq_safetensors_entry *e = eq_safetensors_find(f, in->tensor);
        if (!e)
            return eq_error_set_path(err, EQ_ERR_INVALID, "input.tensor",
                                     "%s has no tensor '%s'", in->file, in->tensor);
        if (!e->tensor)
            return eq_error_set_path(err, EQ_ERR_UNSUPPORTED, "input.tensor",
                                     "tensor '%s' is %s; the input must be F32 or F64",
                                     in->tensor, e->dtype);
        t = (eq_tensor *)e->tensor;
    }
    if (t->dtype != EQ_F32) {
        eq_tensor *c = eq_tensor_convert(arena, t, EQ_F32, err);
        if (!c)
            return err ? err->status : EQ_ERR_NOMEM;
        t = c;
    }
    *out = t;
    return EQ_OK;
}

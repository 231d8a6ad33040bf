/* eq_job_rules.h - the job's field table (see eq_job_rules.c). Internal. */
#ifndef EQ_JOB_RULES_H
#define EQ_JOB_RULES_H

#include <jansson.h>
#include <stddef.h>

#include "eq_error.h"

/* JSON types a field accepts (a bit set). JT_NUMBER accepts integers too. */
enum {
    JT_STRING = 1,
    JT_NUMBER = 2,
    JT_INTEGER = 4,
    JT_BOOL = 8,
    JT_OBJECT = 16,
    JT_ARRAY = 32
};

typedef struct job_field {
    const char *name;
    unsigned types;
    const char *const *enums; /* NULL-terminated, or NULL */
    int enum_items;           /* the enum applies to the array's items */
} job_field;

typedef struct job_object {
    const char *name;         /* "job" or the schema's $defs name */
    const job_field *fields;
    size_t n;
} job_object;

const job_object *job_rules_object(const char *name);

/* Unknown fields, JSON types and enums of obj against rules; errors carry
 * the field's path ("input.fill") and list what is allowed. */
eq_status job_check_object(const json_t *obj, const job_object *rules, const char *path,
                           eq_error *err);
int job_type_ok(const json_t *v, unsigned types);

/* parent.key, or key at the top level. */
void job_path_join(char *out, size_t n, const char *parent, const char *key);

#endif

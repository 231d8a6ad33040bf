/* eq_job_rules.c - the fields a job may have, as one table.
 *
 * The parser checks every object of a job against this table (unknown
 * fields, JSON types, enumerations) before it reads values, and
 * eq_job_rules() hands the same table to the schema-sync test, which fails
 * when schema/job.schema.json lists different fields, types or enums. So a
 * field added here and not to the schema (or the reverse) breaks the build.
 */
#include "eq_job_rules.h"

#include <stdio.h>
#include <string.h>

#include "eq_job_internal.h"

static const char *const k_checks[] = {"variables_once", "manifest", "fixed_weights",
                                       "checkpoint", "random_inference", "random_training",
                                       "reference", NULL};
static const char *const k_seed_modes[] = {"constant", "num_random_ops", NULL};
static const char *const k_eager_call[] = {"direct", "functional", NULL};
static const char *const k_fill[] = {"ones", "zeros", "uniform", NULL};
static const char *const k_modes[] = {"graph", "eager", NULL};
static const char *const k_ref_weights[] = {"fixed", "checkpoint", "random", NULL};

static const job_field f_job[] = {
    {"name", JT_STRING, NULL, 0},
    {"description", JT_STRING, NULL, 0},
    {"model", JT_OBJECT, NULL, 0},
    {"eager_model", JT_OBJECT, NULL, 0},
    {"name_map", JT_ARRAY, NULL, 0},
    {"input", JT_OBJECT, NULL, 0},
    {"checks", JT_ARRAY, k_checks, 1},
    {"seed_policy", JT_STRING | JT_OBJECT, k_seed_modes, 0},
    {"fixed_weight_value", JT_NUMBER, NULL, 0},
    {"eager_calls", JT_INTEGER, NULL, 0},
    {"eager_call", JT_STRING, k_eager_call, 0},
    {"graph_options", JT_OBJECT, NULL, 0},
    {"tolerances", JT_OBJECT, NULL, 0},
    {"checkpoint", JT_STRING, NULL, 0},
    {"reference", JT_OBJECT, NULL, 0},
};

static const job_field f_zoo_model[] = {
    {"zoo", JT_STRING, NULL, 0},
    {"args", JT_OBJECT, NULL, 0},
};

static const job_field f_name_map_rule[] = {
    {"pattern", JT_STRING, NULL, 0},
    {"replace", JT_STRING, NULL, 0},
};

static const job_field f_input[] = {
    {"fill", JT_STRING, k_fill, 0},
    {"shape", JT_ARRAY, NULL, 0},
    {"seed", JT_INTEGER, NULL, 0},
    {"min", JT_NUMBER, NULL, 0},
    {"max", JT_NUMBER, NULL, 0},
    {"data", JT_ARRAY, NULL, 0},
    {"npy", JT_STRING, NULL, 0},
    {"safetensors", JT_STRING, NULL, 0},
    {"tensor", JT_STRING, NULL, 0},
};

static const job_field f_seed_policy[] = {
    {"mode", JT_STRING, k_seed_modes, 0},
    {"seed", JT_INTEGER, NULL, 0},
    {"operation_seed", JT_INTEGER, NULL, 0},
};

static const job_field f_graph_options[] = {
    {"constant_folding", JT_BOOL, NULL, 0},
    {"arithmetic", JT_BOOL, NULL, 0},
    {"fold_batch_norm", JT_BOOL, NULL, 0},
    {"fuse_bias_activation", JT_BOOL, NULL, 0},
    {"prune", JT_BOOL, NULL, 0},
    {"buffer_reuse", JT_BOOL, NULL, 0},
};

static const job_field f_tolerances[] = {
    {"rtol", JT_NUMBER, NULL, 0},
    {"atol", JT_NUMBER, NULL, 0},
    {"overrides", JT_OBJECT, NULL, 0},
};

static const job_field f_tolerance[] = {
    {"rtol", JT_NUMBER, NULL, 0},
    {"atol", JT_NUMBER, NULL, 0},
};

static const job_field f_tensor[] = {
    {"shape", JT_ARRAY, NULL, 0},
    {"data", JT_ARRAY, NULL, 0},
};

static const job_field f_reference[] = {
    {"tensors", JT_OBJECT, NULL, 0},
    {"npy", JT_OBJECT, NULL, 0},
    {"safetensors", JT_STRING, NULL, 0},
    {"job", JT_INTEGER, NULL, 0},
    {"modes", JT_ARRAY, k_modes, 1},
    {"weights", JT_STRING, k_ref_weights, 0},
};

#define OBJ(name, f) {name, f, sizeof f / sizeof f[0]}
static const job_object k_objects[] = {
    OBJ("job", f_job),
    OBJ("zoo_model", f_zoo_model),
    OBJ("name_map_rule", f_name_map_rule),
    OBJ("input", f_input),
    OBJ("seed_policy", f_seed_policy),
    OBJ("graph_options", f_graph_options),
    OBJ("tolerances", f_tolerances),
    OBJ("tolerance", f_tolerance),
    OBJ("tensor", f_tensor),
    OBJ("reference", f_reference),
};

const job_object *job_rules_object(const char *name)
{
    for (size_t i = 0; i < sizeof k_objects / sizeof k_objects[0]; i++)
        if (strcmp(k_objects[i].name, name) == 0)
            return &k_objects[i];
    return NULL;
}

static const char *type_name(unsigned t)
{
    switch (t) {
    case JT_STRING: return "string";
    case JT_NUMBER: return "number";
    case JT_INTEGER: return "integer";
    case JT_BOOL: return "boolean";
    case JT_OBJECT: return "object";
    case JT_ARRAY: return "array";
    }
    return "?";
}

/* "a string or an object" */
static void types_phrase(unsigned types, char *buf, size_t n)
{
    static const unsigned order[] = {JT_STRING, JT_NUMBER, JT_INTEGER, JT_BOOL, JT_OBJECT,
                                     JT_ARRAY};
    buf[0] = '\0';
    int k = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(types & order[i]))
            continue;
        const char *tn = type_name(order[i]);
        const char *art = (tn[0] == 'a' || tn[0] == 'i' || tn[0] == 'o') ? "an" : "a";
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s %s", k ? " or " : "", art, tn);
        k++;
    }
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

int job_type_ok(const json_t *v, unsigned types)
{
    if ((types & JT_STRING) && json_is_string(v))
        return 1;
    if ((types & JT_NUMBER) && json_is_number(v))
        return 1;
    if ((types & JT_INTEGER) && json_is_integer(v))
        return 1;
    if ((types & JT_BOOL) && json_is_boolean(v))
        return 1;
    if ((types & JT_OBJECT) && json_is_object(v))
        return 1;
    if ((types & JT_ARRAY) && json_is_array(v))
        return 1;
    return 0;
}

static void enum_list(const char *const *e, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; e[i]; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", i ? ", " : "", e[i]);
    }
}

static int in_enum(const char *const *e, const char *s)
{
    for (int i = 0; e[i]; i++)
        if (strcmp(e[i], s) == 0)
            return 1;
    return 0;
}

void job_path_join(char *out, size_t n, const char *parent, const char *key)
{
    if (parent && parent[0])
        snprintf(out, n, "%s.%s", parent, key);
    else
        snprintf(out, n, "%s", key);
}

eq_status job_check_object(const json_t *obj, const job_object *rules, const char *path,
                           eq_error *err)
{
    if (!json_is_object(obj))
        return eq_error_set_path(err, EQ_ERR_INVALID, path, "expected an object, got %s",
                                 json_kind(obj));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char where[256];
        job_path_join(where, sizeof where, path, key);
        const job_field *f = NULL;
        for (size_t i = 0; i < rules->n; i++)
            if (strcmp(rules->fields[i].name, key) == 0)
                f = &rules->fields[i];
        if (!f) {
            char list[512] = "";
            for (size_t i = 0; i < rules->n; i++) {
                size_t len = strlen(list);
                snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                         rules->fields[i].name);
            }
            return eq_error_set_path(err, EQ_ERR_INVALID, where,
                                     "unknown field '%s' (expected one of: %s)", key, list);
        }
        if (!job_type_ok(v, f->types)) {
            char want[128];
            types_phrase(f->types, want, sizeof want);
            return eq_error_set_path(err, EQ_ERR_INVALID, where, "expected %s, got %s", want,
                                     json_kind(v));
        }
        if (!f->enums)
            continue;
        char list[256];
        enum_list(f->enums, list, sizeof list);
        if (f->enum_items) {
            size_t i;
            const json_t *it;
            json_array_foreach(v, i, it) {
                char ip[300];
                snprintf(ip, sizeof ip, "%s[%zu]", where, i);
                if (!json_is_string(it))
                    return eq_error_set_path(err, EQ_ERR_INVALID, ip,
                                             "expected a string (one of: %s), got %s", list,
                                             json_kind(it));
                if (!in_enum(f->enums, json_string_value(it)))
                    return eq_error_set_path(err, EQ_ERR_INVALID, ip,
                                             "unknown value '%s' (expected one of: %s)",
                                             json_string_value(it), list);
            }
        } else if (json_is_string(v) && !in_enum(f->enums, json_string_value(v))) {
            return eq_error_set_path(err, EQ_ERR_INVALID, where,
                                     "unknown value '%s' (expected one of: %s)",
                                     json_string_value(v), list);
        }
    }
    return EQ_OK;
}

static json_t *field_json(const job_field *f)
{
    json_t *o = json_object();
    json_t *types = json_array();
    for (unsigned t = JT_STRING; t <= JT_ARRAY; t <<= 1)
        if (f->types & t)
            json_array_append_new(types, json_string(type_name(t)));
    json_object_set_new(o, "type", types);
    if (f->enums) {
        json_t *e = json_array();
        for (int i = 0; f->enums[i]; i++)
            json_array_append_new(e, json_string(f->enums[i]));
        json_object_set_new(o, f->enum_items ? "items_enum" : "enum", e);
    }
    return o;
}

json_t *eq_job_rules(void)
{
    json_t *all = json_object();
    if (!all)
        return NULL;
    for (size_t i = 0; i < sizeof k_objects / sizeof k_objects[0]; i++) {
        json_t *o = json_object();
        for (size_t k = 0; k < k_objects[i].n; k++)
            json_object_set_new(o, k_objects[i].fields[k].name,
                                field_json(&k_objects[i].fields[k]));
        json_object_set_new(all, k_objects[i].name, o);
    }
    return all;
}
